// "A dictionary per recipient" as the corpus allows measuring it: each set (enron1 … enron6, spamassassin) is one
// user's mailbox, so its training messages make that user's own dictionary, and its test messages are that user's
// mail, scored by the shared dictionary and the set's together. The eval and the cross-validation share these parts.
import { rankKey, type Score } from '../../plugins/bayes/engine/classify.ts';
import { withRecipientScore } from '../../plugins/bayes/engine/recipient-score.ts';
import type { Scored } from './metrics.ts';

/** The weight of the recipients' dictionary when none is asked for: the plugin's own default. */
export const DEFAULT_PER_SET_WEIGHT = 1;

/** The messages of each set, in their order, sets in the order they first appear. */
export function groupBySet<T extends { set: string }>(msgs: T[]): Map<string, T[]> {
  const sets = new Map<string, T[]>();
  for (const m of msgs) {
    const list = sets.get(m.set);
    if (list) list.push(m); else sets.set(m.set, [m]);
  }
  return sets;
}

/**
 * One message's score as the gateway gives it to a recipient with a dictionary of their own: the shared score with
 * the own one's logit averaged in at `weight`; without an own dictionary (a set with no training messages), the shared score
 * alone, as a recipient without one gets. Ranked by probability, then by the combined tails, as a single dictionary's
 * score is.
 */
export function scoredWithOwn(spam: boolean, shared: Score, own: Score | undefined, weight: number): Scored {
  const s = own ? withRecipientScore(shared, own, weight) : shared;
  return { spam, p: s.probability, tie: rankKey(s) };
}

/** `--per-set-weight`'s value: a finite number ≥ 0 (0 leaves the set's dictionary without a say), else undefined. */
export function readWeight(text: string): number | undefined {
  if (!/^\s*\d*\.?\d+(e[-+]?\d+)?\s*$/i.test(text)) return undefined;
  const w = Number(text);
  return Number.isFinite(w) && w >= 0 ? w : undefined;
}

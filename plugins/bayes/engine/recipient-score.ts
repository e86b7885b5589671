// One message judged by two dictionaries, the shared one and its recipients' own, as one score. Tried by
// cross-validation against counting both in one dictionary and against the recipients' dictionary alone: the sum of
// the two logits caught the most spam at 0.1% ham (plugins/bayes/MEASUREMENTS.md, "A dictionary per recipient").
import type { Score } from './classify.ts';

/** Probabilities are held this far from 0 and 1 before their logits are summed, so a certain 1 stays a number. */
const EDGE = 1e-12;

function logit(p: number): number {
  const q = Math.min(1 - EDGE, Math.max(EDGE, p));
  return Math.log(q / (1 - q));
}

/**
 * The shared dictionary's score with the recipients' dictionary's added: the logits summed, the recipients' times
 * `weight`; the ranking tails (`logHam`, `logSpam`) likewise, so messages both call certain still order by both.
 */
export function withRecipientScore(shared: Score, own: Score, weight: number): Score {
  const z = logit(shared.probability) + weight * logit(own.probability);
  return {
    probability: 1 / (1 + Math.exp(-z)),
    used: shared.used,
    logHam: shared.logHam + weight * own.logHam,
    logSpam: shared.logSpam + weight * own.logSpam,
    top: shared.top,
  };
}

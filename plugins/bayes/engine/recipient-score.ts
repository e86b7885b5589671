// One message judged by two dictionaries, the shared one and its recipients' own, as one score. Tried by
// cross-validation against counting both in one dictionary and against the recipients' dictionary alone: the two
// logits together caught the most spam at 0.1% ham (plugins/bayes/MEASUREMENTS.md, "A dictionary per recipient").
import type { Score } from './classify.ts';

/** Probabilities are held this far from 0 and 1 before their logits are taken, so a certain 1 stays a number. */
const EDGE = 1e-12;

function logit(p: number): number {
  const q = Math.min(1 - EDGE, Math.max(EDGE, p));
  return Math.log(q / (1 - q));
}

/**
 * The shared dictionary's score with the recipients' dictionary's: the weighted mean of their logits, the recipients'
 * weighing `weight` against the shared one's 1; the ranking tails (`logHam`, `logSpam`) likewise, so messages both
 * call certain still order by both. A mean, not a sum: two dictionaries that each say 0.9 would sum to 0.99, and the
 * bands were set for one dictionary's probabilities (summed, 4 times as much ham reached 0.9 in `npm run eval:bayes`).
 */
export function withRecipientScore(shared: Score, own: Score, weight: number): Score {
  const total = 1 + weight;
  const z = (logit(shared.probability) + weight * logit(own.probability)) / total;
  return {
    probability: 1 / (1 + Math.exp(-z)),
    used: shared.used,
    logHam: (shared.logHam + weight * own.logHam) / total,
    logSpam: (shared.logSpam + weight * own.logSpam) / total,
    top: shared.top,
  };
}

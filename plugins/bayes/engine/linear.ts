// Third training pass: a linear model over the same tokens, a weight per token, fitted by logistic regression in
// one shuffled sweep over the messages learning recorded (learned-tokens.ts). Scoring adds its sum to the
// Bayesian logit (classify.ts, `linearWeight`).
//
// Why a second model on the same tokens: Robinson's probability judges each token on its own, from its counts,
// so a token common in both classes says little however it is used; the linear model's weights are fitted
// together, each message moving them only as far as the rest misjudge it. The two err on different messages.
// In `npm run cv:bayes` (inside the eval's training part) spam caught at <= 0.1% ham went from 93.20% to 95.34%,
// higher in each of its 4 fold seeds, and 1-ROCA fell by about a quarter (plugins/bayes/MEASUREMENTS.md).
//
// Each token's step shrinks with the number of messages that hold it (rate / sqrt(1 + messages)), as an
// adaptive gradient method's would, but from the counts the dictionary keeps anyway, so a merge can go on
// from the weights in a file without any other state.
import type { CountsByIds, Dictionary } from './dictionary.ts';
import type { LearnedTokens } from './learned-tokens.ts';

export interface LinearOptions {
  /** Step size, divided by √(1 + messages holding the token). */
  rate: number;
  /** A ham's error counts this many times a spam's (a ham taken for spam costs more). */
  hamWeight: number;
}

// Chosen by cross-validation inside the eval's training part: a rate of 100 and ham weighed 3 times, one sweep.
// A rate of 200, ham weighed once, two sweeps, an intercept, and step sizes from the counts before the
// reinforcement pass all measured the same or worse.
export const DEFAULT_LINEAR: LinearOptions = { rate: 100, hamWeight: 3 };

export interface LinearResult {
  /** Messages swept. */
  messages: number;
  /** Tokens whose weight is not 0 afterwards. */
  weighted: number;
}

/**
 * Fits the weights of `dict`'s tokens on the messages `learned` recorded as they were learned into it. Weights
 * start from the dictionary's own, or for a token without one from `background`'s (a merge's target), and step
 * sizes count `background`'s messages too. `counts` are the dictionary's by token number, `background`'s added:
 * the ones the reinforcement pass kept in step, so the table is not read again.
 */
export function learnWeights(
  dict: Dictionary,
  learned: LearnedTokens,
  options: Partial<LinearOptions> = {},
  background?: Dictionary,
  counts: CountsByIds = dict.countsByIds(background),
): LinearResult {
  const o = { ...DEFAULT_LINEAR, ...options };
  const start = dict.weightsByIds(background);
  // Token id's weight at 2·id and its step at 2·id + 1: side by side, so a token costs one cache miss, not two.
  const ws = new Float64Array(2 * start.length);
  for (let id = 0; id < start.length; id++) {
    ws[2 * id] = start[id];
    ws[2 * id + 1] = o.rate / Math.sqrt(1 + counts.spam[id] + counts.ham[id]);
  }
  for (const m of shuffledOrder(learned.size)) {
    const { ids } = learned.tokensOf(m);
    const scale = 1 / Math.sqrt(ids.length + 1);
    let z = 0;
    for (let t = 0; t < ids.length; t++) z += ws[2 * ids[t]];
    z *= scale;
    const spam = learned.isSpam(m);
    // The gradient of the log-loss: how far the model's probability is from the message's class.
    const g = ((spam ? 1 : 0) - 1 / (1 + Math.exp(-z))) * scale * (spam ? 1 : o.hamWeight);
    for (let t = 0; t < ids.length; t++) {
      const k = 2 * ids[t];
      ws[k] += g * ws[k + 1];
    }
  }
  const w = new Float64Array(start.length);
  for (let id = 0; id < w.length; id++) w[id] = ws[2 * id];
  dict.setWeightsByIds(w);
  let weighted = 0;
  for (let id = 0; id < w.length; id++) if (w[id] !== 0) weighted++;
  return { messages: learned.size, weighted };
}

/**
 * 0 … n − 1 in an order that depends on n alone: training folders are read class by class, and a sweep in that
 * order would fit the last class's messages best; a fixed order makes the same folders give the same weights.
 */
export function shuffledOrder(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = (Math.imul(i, 2654435761) >>> 0) % (i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

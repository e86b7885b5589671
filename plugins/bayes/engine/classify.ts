// Scores a message: Robinson's per-token probability, combined with Fisher's chi-square method
// (as bogofilter and SpamAssassin do) and a small weight of the tokens' log-odds, with a neutral exclusion band
// and MailEnable's three token selections; then the linear models' terms, when the dictionary has them: the
// token weights' (engine/linear.ts) and the byte model's (engine/byte-grams.ts).
import type { TokenCounts } from './tokenizer.ts';
import type { HashedBag } from './hashed-bag.ts';

/** What the classifier reads: message totals and per-token counts. */
export interface CountReader {
  readonly nspam: number;
  readonly nham: number;
  lookup(token: string, fn: (spam: number, ham: number) => void): boolean;
  /** The token's weight in the linear model (engine/linear.ts), when the reader has any. */
  weightOf?(token: string): number;
}

/**
 * Which tokens are combined (MailEnable's "spam calculation method"):
 * `all` every token outside the neutral band; `frequent` the tokens that occur most often in the message,
 * weighted by how often they occur; `extreme` the tokens farthest from neutral.
 */
export type CalculationMode = 'all' | 'frequent' | 'extreme';

export interface ScoringOptions {
  mode: CalculationMode;
  /** Robinson's s: how strongly a rarely seen token is pulled towards `robx`. */
  robs: number;
  /** Robinson's x: the probability assumed for a token never seen. */
  robx: number;
  /** Tokens whose probability lies within this distance of 0.5 are left out. */
  minDev: number;
  /** Tokens combined at most in the `frequent` and `extreme` modes. */
  maxTokens: number;
  /** A message with fewer usable tokens than this has its probability pulled towards 0.5 in proportion (one strong word is weak evidence). */
  minTokens?: number;
  /** Effective size factor: weight of each token in the chi-square sums (below 1 for correlated tokens). */
  esf?: number;
  /** Weight of the tokens' summed log-odds, over √n, added to the logit of Fisher's indicator; 0: Fisher alone. */
  oddsWeight?: number;
  /** Weight of the linear model's sum (its tokens' weights over √(n + 1)) added to the logit at the end; 0: left out. */
  linearWeight?: number;
  /** Weight of the byte model's term (engine/byte-grams.ts) added to the logit at the end; 0: left out. */
  byteGramWeight?: number;
  /**
   * With the byte model's term added, the Bayesian logit (Fisher's indicator with the log-odds term) is first
   * held within ±logitCap, so where it saturates the fitted models decide; 0: no cap.
   */
  logitCap?: number;
}

export const DEFAULT_SCORING: ScoringOptions = { mode: 'all', robs: 0.3, robx: 0.52, minDev: 0.375, maxTokens: 150, minTokens: 3, oddsWeight: 0.05, linearWeight: 0.3, byteGramWeight: 0.3, logitCap: 3 };

export interface Score {
  /** Spam probability 0–1. */
  probability: number;
  /** Tokens combined. */
  used: number;
  /** ln of the two chi-square tail probabilities; their difference orders messages finer than `probability` near 0 and 1. */
  logHam: number;
  logSpam: number;
  /** With `explain`: the most telling tokens with their probabilities, strongest first. */
  top: Array<[token: string, p: number]>;
}

/** ln Q(x | v), the upper tail of the chi-square distribution with an even `v` degrees of freedom, in log space. */
export function logChi2Q(x: number, v: number): number {
  const m = x / 2;
  if (m <= 0) return 0;
  if (!Number.isFinite(m)) return -Infinity;
  // Q = e^-m · Σ_{i<v/2} m^i / i!. The sum is kept in plain numbers, rescaled before a term could overflow, and
  // e^-m is applied in log space, so Q keeps its precision where it underflows. Summing in log space instead costs
  // a log and an exp a term, about 20× the time, and is less exact (checked against 80-digit arithmetic: 6e-13
  // against 6e-14).
  let term = 1;
  let sum = 1;
  let logScale = 0;
  for (let i = 1; i < v / 2; i++) {
    const ratio = m / i;
    if (sum > 1e280 / Math.max(ratio, 1)) {
      term /= sum;
      logScale += Math.log(sum);
      sum = 1;
    }
    term *= ratio;
    sum += term;
  }
  return Math.min(0, -m + logScale + Math.log(sum));
}

/** Robinson's degree-of-belief probability that a message holding this token is spam. */
export function tokenProbability(spam: number, ham: number, nspam: number, nham: number, o: ScoringOptions): number {
  const n = spam + ham;
  if (n === 0) return o.robx;
  const bp = nspam > 0 ? spam / nspam : 0;
  const gp = nham > 0 ? ham / nham : 0;
  const p = bp + gp > 0 ? bp / (bp + gp) : o.robx;
  return (o.robs * o.robx + n * p) / (o.robs + n);
}

/**
 * One message's evidence, token by token: each token's counts become Robinson's probability, neutral ones are
 * left out, and `score` combines the rest. Every scoring path (by token string, by hash, held out) goes through it.
 */
export class Evidence {
  private readonly probs: number[] = [];
  private readonly weights: number[] = [];
  private readonly names: string[] = [];
  private readonly o: ScoringOptions;
  private readonly nspam: number;
  private readonly nham: number;
  /** The linear model's sum over the message's tokens, and how many distinct tokens the message has. */
  private linearSum = 0;
  private tokens = 0;
  /** The byte model's term for the message (ByteGramModel.term); undefined without one. */
  private byteTerm: number | undefined;

  constructor(nspam: number, nham: number, o: ScoringOptions) {
    this.nspam = nspam;
    this.nham = nham;
    this.o = o;
  }

  /** A token seen `spam` and `ham` times in training, occurring `weight` times in the message. */
  add(spam: number, ham: number, weight: number, name?: string): void {
    const f = tokenProbability(spam, ham, this.nspam, this.nham, this.o);
    if (Math.abs(f - 0.5) < this.o.minDev) return;
    this.probs.push(f);
    this.weights.push(weight);
    if (name !== undefined) this.names.push(name);
  }

  /** The message has `tokens` distinct tokens, whose weights in the linear model sum to `sum`. */
  linear(sum: number, tokens: number): void {
    this.linearSum = sum;
    this.tokens = tokens;
  }

  /** The byte model's term for the message (undefined: no byte model, or scoring leaves it out). */
  bytes(term: number | undefined): void {
    this.byteTerm = term;
  }

  score(explain = false): Score {
    return combine(this.probs, this.weights, explain ? this.names : undefined, this.o, explain, linearTerm(this.linearSum, this.tokens), this.byteTerm);
  }
}

/**
 * Scores a message's tokens; `explain` also lists the most telling tokens (a sort the hot path skips). `bytes` is
 * the byte model's term for the message, worked out from its bytes (BayesFilter.byteTerm); undefined without one.
 */
export function classify(tokens: TokenCounts, dict: CountReader, o: ScoringOptions = DEFAULT_SCORING, explain = false, bytes?: number): Score {
  const evidence = new Evidence(dict.nspam, dict.nham, o);
  let spamCount = 0;
  let hamCount = 0;
  const take = (s: number, h: number) => { spamCount = s; hamCount = h; };
  let linear = 0;
  for (const [token, count] of tokens) {
    if (dict.lookup(token, take)) evidence.add(spamCount, hamCount, count, token);
    if (dict.weightOf) linear += dict.weightOf(token);
  }
  evidence.linear(linear, tokens.size);
  evidence.bytes(bytes);
  return evidence.score(explain);
}

/** Counts of a token with hashes `a`, `b` in several dictionaries, summed (found: false when none knows it). */
export interface HashedCounts {
  readonly nspam: number;
  readonly nham: number;
  layers: ReadonlyArray<{
    slotsOfHashes(a: Int32Array, b: Int32Array, n: number, out: Int32Array): void;
    spamAt(slot: number): number;
    hamAt(slot: number): number;
    readonly hasWeights: boolean;
    weightAt(slot: number): number;
  }>;
}

/** The slots `classifyHashed` looks up, one array per layer, reused by every call (each runs to its end synchronously). */
const slotScratch: Int32Array[] = [];

/** The same as `classify` on a bag of hashed tokens (scoring's fast path: no token strings, so no `explain`). */
export function classifyHashed(bag: HashedBag, counts: HashedCounts, o: ScoringOptions = DEFAULT_SCORING, bytes?: number): Score {
  const evidence = new Evidence(counts.nspam, counts.nham, o);
  const layers = counts.layers;
  const n = bag.size;
  // Every token's slot in every layer first, their cache misses overlapping, then the evidence from them.
  while (slotScratch.length < layers.length) slotScratch.push(new Int32Array(0));
  for (let k = 0; k < layers.length; k++) {
    if (slotScratch[k].length < n) slotScratch[k] = new Int32Array(Math.max(n, bag.capacity));
    layers[k].slotsOfHashes(bag.a, bag.b, n, slotScratch[k]);
  }
  let linear = 0;
  for (let t = 0; t < n; t++) {
    let found = false;
    let spam = 0;
    let ham = 0;
    for (let k = 0; k < layers.length; k++) {
      const l = layers[k];
      const slot = slotScratch[k][t];
      if (slot < 0) continue;
      found = true;
      spam += l.spamAt(slot);
      ham += l.hamAt(slot);
      if (l.hasWeights) linear += l.weightAt(slot);
    }
    if (found) evidence.add(spam, ham, bag.count[t]);
  }
  evidence.linear(linear, bag.size);
  evidence.bytes(bytes);
  return evidence.score();
}

/** Fisher's chi-square combination of the chosen tokens' probabilities. */
function combine(probs: number[], weights: number[], names: string[] | undefined, o: ScoringOptions, explain: boolean, linear: number, bytes: number | undefined): Score {
  let order = probs.map((_p, i) => i);
  if (o.mode === 'extreme' || o.mode === 'frequent') {
    if (o.mode === 'extreme') order.sort((a, b) => Math.abs(probs[b] - 0.5) - Math.abs(probs[a] - 0.5));
    else order.sort((a, b) => weights[b] - weights[a] || Math.abs(probs[b] - 0.5) - Math.abs(probs[a] - 0.5));
    order = order.slice(0, o.maxTokens);
  }
  let lnHam = 0;
  let lnSpam = 0;
  let used = 0;
  for (const i of order) {
    // In the `frequent` mode a token counts as often as it occurs (a little capped), as MailEnable describes.
    const w = o.mode === 'frequent' ? Math.min(weights[i], 4) : 1;
    const f = clampProbability(probs[i]);
    lnHam += w * Math.log(f);
    lnSpam += w * Math.log1p(-f);
    used += w;
  }
  const score = scoreFromSums(lnHam, lnSpam, used, o, linear, bytes);
  if (explain && names) {
    score.top = order
      .slice()
      .sort((a, b) => Math.abs(probs[b] - 0.5) - Math.abs(probs[a] - 0.5))
      .slice(0, 10)
      .map((i): [string, number] => [names[i], probs[i]]);
  }
  return score;
}

/** A token's probability kept off 0 and 1, whose logs the combination sums. */
export function clampProbability(f: number): number {
  return Math.min(1 - 1e-9, Math.max(1e-9, f));
}

/** The linear model's term: the weights of a message's `tokens` distinct tokens, summed to `sum`, over √(tokens + 1). */
export function linearTerm(sum: number, tokens: number): number {
  return sum / Math.sqrt(tokens + 1);
}

/**
 * The score from the combined tokens' summed ln f (`lnHam`) and ln(1 − f) (`lnSpam`) and their total weight
 * `used`: Fisher's two chi-square tails, the log-odds term and the few-tokens pull towards 0.5; then the linear
 * models' terms added to the logit: the token weights' (`linearTerm`) times `linearWeight`, and the byte model's
 * (undefined without one) times `byteGramWeight`, the Bayesian logit first held within ±`logitCap` when the
 * byte model's term is added.
 */
export function scoreFromSums(lnHam: number, lnSpam: number, used: number, o: ScoringOptions, linear = 0, bytes?: number): Score {
  const score = bayesScore(lnHam, lnSpam, used, o);
  // A term that overflowed (absurd weights in a foreign file) is left out rather than made NaN.
  const shift = termOf(o.linearWeight, linear) + termOf(o.byteGramWeight, bytes ?? 0);
  const cap = bytes !== undefined && (o.byteGramWeight ?? 0) > 0 ? o.logitCap ?? 0 : 0;
  if (shift !== 0 || cap > 0) {
    // The models err on different messages: Robinson's probabilities count each token on its own, the token
    // weights were fitted together on the messages they misjudged, and the byte model sees what no token holds.
    // Fisher's indicator saturates (a message it is sure of scores 1e-9 or 1 − 1e-9 however it is judged
    // otherwise), so uncapped it outvotes both models on just the messages where they disagree with it.
    const p = clampProbability(score.probability);
    let z = Math.log(p / (1 - p));
    if (cap > 0) z = Math.max(-cap, Math.min(cap, z));
    score.probability = 1 / (1 + Math.exp(-(z + shift)));
  }
  return score;
}

function termOf(weight: number | undefined, term: number): number {
  return weight !== undefined && weight > 0 && term !== 0 && Number.isFinite(term) ? weight * term : 0;
}

function bayesScore(lnHam: number, lnSpam: number, used: number, o: ScoringOptions): Score {
  if (used === 0) return { probability: 0.5, used: 0, logHam: 0, logSpam: 0, top: [] };
  const esf = o.esf ?? 1;
  // With an effective size factor, n correlated tokens weigh as esf·n independent ones.
  const dof = 2 * Math.max(1, Math.round(used * esf));
  let logH = logChi2Q(-2 * lnHam * esf, dof);   // small when the tokens are spammy
  let logS = logChi2Q(-2 * lnSpam * esf, dof);  // small when the tokens are hammy
  let probability = (1 + Math.exp(logH) - Math.exp(logS)) / 2;
  const oddsWeight = o.oddsWeight ?? 0;
  if (oddsWeight > 0) {
    // Fisher's indicator is flat just where the rare ham and spam lie: near 0.5 for word salad (strong evidence
    // both ways, so both tails are near 1) and at 0 or 1 once a tail saturates. The tokens' log-odds, summed and
    // scaled by √n, keeps ordering those; with a small weight it hardly moves anything else.
    const fisher = clampProbability(probability);
    const logit = Math.log(fisher / (1 - fisher)) + (oddsWeight * (lnHam - lnSpam)) / Math.sqrt(used);
    probability = 1 / (1 + Math.exp(-logit));
  }
  const minTokens = o.minTokens ?? 0;
  if (used < minTokens) {
    const k = used / minTokens;
    probability = 0.5 + (probability - 0.5) * k;
    logH *= k;
    logS *= k;
  }
  return { probability, used, logHam: logH, logSpam: logS, top: [] };
}

/** A ranking key finer than the probability: it keeps ordering messages once both tails saturate. */
export function rankKey(s: Score): number {
  return s.logHam - s.logSpam;
}

// Filter accuracy figures: ham misclassified, spam caught at a cutoff, and 1-ROCA (the area above the ROC curve).
import { seededRandom } from '../seeded-random.ts';

/** Re-exported: the eval's tests draw from the same generator. */
export { seededRandom };

export interface Scored {
  spam: boolean;
  /** The filter's spam probability. */
  p: number;
  /** A finer ordering key among equal probabilities (0 when the filter gives none). */
  tie?: number;
}

export interface Figures {
  ham: number;
  spam: number;
  /** Percent of ham scored at or above the cutoff. */
  hamAsSpam: number;
  /** Percent of spam scored at or above the cutoff. */
  spamCaught: number;
  /** Percent: 100 × (1 − area under the ROC curve); lower is better. */
  oneMinusRoca: number;
  /** Percent of spam caught at the highest cutoff that keeps ham misclassified ≤ 0.1%. */
  spamAtHam01: number;
}

function compare(a: Scored, b: Scored): number {
  return a.p - b.p || (a.tie ?? 0) - (b.tie ?? 0);
}

/** Area under the ROC curve: the chance a random spam ranks above a random ham (ties count half). */
export function rocArea(results: Scored[]): number {
  const sorted = [...results].sort(compare);
  let hamBelow = 0;
  let pairs = 0;
  let i = 0;
  const nspam = results.filter((r) => r.spam).length;
  const nham = results.length - nspam;
  if (!nspam || !nham) return 1;
  while (i < sorted.length) {
    let j = i;
    let hamTie = 0;
    let spamTie = 0;
    while (j < sorted.length && compare(sorted[i], sorted[j]) === 0) { if (sorted[j].spam) spamTie++; else hamTie++; j++; }
    pairs += spamTie * (hamBelow + hamTie / 2);
    hamBelow += hamTie;
    i = j;
  }
  return pairs / (nspam * nham);
}

export function figures(results: Scored[], cutoff: number): Figures {
  const ham = results.filter((r) => !r.spam);
  const spam = results.filter((r) => r.spam);
  const pct = (n: number, d: number) => (d ? (100 * n) / d : 0);
  return {
    ham: ham.length,
    spam: spam.length,
    hamAsSpam: pct(ham.filter((r) => r.p >= cutoff).length, ham.length),
    spamCaught: pct(spam.filter((r) => r.p >= cutoff).length, spam.length),
    oneMinusRoca: 100 * (1 - rocArea(results)),
    spamAtHam01: spamCaughtAtHamRates(results, [0.001])[0],
  };
}

/**
 * Percent of spam caught at the highest cutoff that keeps ham misclassified ≤ `hamRate` (a fraction), per rate;
 * near 0.1% the figure moves by whole ham messages, so several rates show whether a change holds up.
 */
export function spamCaughtAtHamRates(results: Scored[], hamRates: number[]): number[] {
  const ham = results.filter((r) => !r.spam).sort((a, b) => compare(b, a));
  const spam = results.filter((r) => r.spam).sort(compare);
  return hamRates.map((rate) => {
    const bar = ham[Math.floor(ham.length * rate)];
    return spam.length ? (100 * (bar ? spam.length - firstAbove(spam, bar) : spam.length)) / spam.length : 0;
  });
}

/** The index of the first of `sorted` (lowest first) that ranks above `bar`. */
function firstAbove(sorted: Scored[], bar: Scored): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compare(sorted[mid], bar) > 0) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/**
 * How far spam caught at ham rate `hamRate` could move on another sample of the same kind of mail: the ham and the
 * spam are each drawn again with replacement, `resamples` times, and the interval holds the middle `level` of the
 * figures. At 0.1% the line is set by a handful of ham, so a test part's single figure says less than it seems.
 * Seeded, so a run prints the same interval every time.
 */
export function spamCaughtInterval(results: Scored[], hamRate: number, o: { resamples?: number; level?: number; seed?: number } = {}): [low: number, high: number] {
  const { resamples = 1000, level = 0.95, seed = 1 } = o;
  const ham = results.filter((r) => !r.spam).sort((a, b) => compare(b, a));
  const spam = results.filter((r) => r.spam).sort(compare);
  if (!ham.length || !spam.length) return [0, 0];
  const random = seededRandom(seed);
  const k = Math.floor(ham.length * hamRate);
  // The bar of a draw is its (k+1)-th highest ham: with ham sorted highest first, the (k+1)-th smallest index drawn.
  const lowest = new Int32Array(k + 1);
  const figuresDrawn: number[] = [];
  for (let s = 0; s < resamples; s++) {
    let kept = 0;
    for (let d = 0; d < ham.length; d++) {
      const i = Math.floor(random() * ham.length);
      if (kept === k + 1 && i >= lowest[k]) continue;
      let j = kept < k + 1 ? kept++ : k;
      while (j > 0 && lowest[j - 1] > i) { lowest[j] = lowest[j - 1]; j--; }
      lowest[j] = i;
    }
    const first = firstAbove(spam, ham[lowest[k]]);
    let above = 0;
    for (let d = 0; d < spam.length; d++) if (Math.floor(random() * spam.length) >= first) above++;
    figuresDrawn.push((100 * above) / spam.length);
  }
  figuresDrawn.sort((a, b) => a - b);
  const at = (q: number) => figuresDrawn[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))];
  return [at((1 - level) / 2), at(1 - (1 - level) / 2)];
}


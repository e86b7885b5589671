// Filter accuracy figures: ham misclassified, spam caught at a cutoff, and 1-ROCA (the area above the ROC curve).

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
  const above = (bar: Scored) => {
    let lo = 0;
    let hi = spam.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compare(spam[mid], bar) > 0) hi = mid; else lo = mid + 1;
    }
    return spam.length - lo;
  };
  return hamRates.map((rate) => {
    const bar = ham[Math.floor(ham.length * rate)];
    return spam.length ? (100 * (bar ? above(bar) : spam.length)) / spam.length : 0;
  });
}

// The total score with `scores.max_per_plugin` applied: Rspamd's group max_score, with a plugin entry as the group.
import type { CappedPlugin, Finding } from './types.ts';

/** Scores are shown and compared to the hundredth, as the findings' own scores are written. */
export const hundredths = (n: number): number => Math.round(n * 100) / 100;

/**
 * The sum of every finding's score, where the positive scores of one plugin count together for at most its cap. A
 * plugin's negative findings (an allowlist) are added in full: a cap bounds how much one kind of evidence can
 * raise a score, and lowering it was never the problem it solves (Rspamd's min_score is its own setting).
 */
export function cappedTotal(findings: readonly Finding[], caps: Readonly<Record<string, number>>): { score: number; capped: CappedPlugin[] } {
  const positive = new Map<string, number>();
  let total = 0;
  for (const f of findings) {
    if (f.score > 0 && caps[f.plugin] !== undefined) positive.set(f.plugin, (positive.get(f.plugin) ?? 0) + f.score);
    else total += f.score;
  }
  const capped: CappedPlugin[] = [];
  for (const [plugin, sum] of positive) {
    const cap = caps[plugin];
    if (sum > cap) capped.push({ plugin, sum: hundredths(sum), cap });
    total += Math.min(sum, cap);
  }
  return { score: hundredths(total), capped };
}

/** `rbl(4.25->4)`: ASCII, as a header may go to a server without 8BITMIME. */
export function cappedText(c: CappedPlugin, arrow = '->'): string {
  return `${c.plugin}(${c.sum}${arrow}${c.cap})`;
}

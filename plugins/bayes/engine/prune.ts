// Shrinks a dictionary: drops rare tokens, tokens too neutral ever to be used, and keeps the best-evidenced N.
import type { Dictionary } from './dictionary.ts';
import { tokenProbability, DEFAULT_SCORING, type ScoringOptions } from './classify.ts';

export interface PruneOptions {
  /** Tokens seen in fewer messages than this (spam + ham) go. */
  minCount: number;
  /** Tokens whose probability stays within this distance of 0.5 go (the scorer's exclusion band ignores them). */
  neutral: number;
  /** Keep at most this many tokens, those seen in the most messages (0: no limit). */
  maxTokens: number;
}

export const DEFAULT_PRUNE: PruneOptions = { minCount: 2, neutral: 0.1, maxTokens: 0 };

export function prune(d: Dictionary, opts: Partial<PruneOptions> = {}, scoring: ScoringOptions = DEFAULT_SCORING): { before: number; after: number } {
  const o = { ...DEFAULT_PRUNE, ...opts };
  const before = d.size;
  let floor = o.minCount;
  if (o.maxTokens > 0) {
    // The count that the maxTokens-th best token reaches becomes the floor (ties may keep a few more).
    const totals: number[] = [];
    for (const e of d.entries()) totals.push(e.spam + e.ham);
    if (totals.length > o.maxTokens) {
      totals.sort((a, b) => b - a);
      floor = Math.max(floor, totals[o.maxTokens - 1]);
    }
  }
  d.filter((e) => {
    if (e.spam + e.ham < floor) return false;
    return Math.abs(tokenProbability(e.spam, e.ham, d.nspam, d.nham, scoring) - 0.5) >= o.neutral;
  });
  return { before, after: d.size };
}

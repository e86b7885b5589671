// Taking a lesson back out of a dictionary's counts: what forgetting an earlier lesson of a message does to the layer
// that holds it. Counts stay at or above zero (Dictionary.add clamps), where `learn(…, -1)` would wrap a count of 0
// round to four billion.
import type { Dictionary } from './engine/dictionary.ts';

/** Takes one message of class `spam` with these tokens out of `from`. */
export function unlearn(from: Dictionary, tokens: Iterable<string>, spam: boolean): void {
  const [s, h] = spam ? [-1, 0] : [0, -1];
  for (const t of tokens) from.add(t, s, h);
  if (spam) from.nspam = Math.max(0, from.nspam - 1);
  else from.nham = Math.max(0, from.nham - 1);
}

/** Takes every count of `what` (and its message totals) out of `from`. */
export function subtractCounts(from: Dictionary, what: Dictionary): void {
  for (const e of what.entries()) from.add(e.token, -e.spam, -e.ham);
  from.nspam = Math.max(0, from.nspam - what.nspam);
  from.nham = Math.max(0, from.nham - what.nham);
}

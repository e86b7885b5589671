// What a finding's symbol may be: the word that names it in X-Mailmoat-Verdict, the log and the rules' criteria.
import { s } from '../config/schema.ts';

/**
 * Letters, digits and `_` (Rspamd's and SpamAssassin's style, `RBL_SPAMHAUS`, `BAYES_SPAM_99`). The verdict header
 * lists symbols as `SYM(score)` separated by spaces, and the rules match them with `*` globs: a space, parenthesis,
 * semicolon, `*` or line break in one would make that list, and the decisions read from it, say something else.
 */
export const FINDING_SYMBOL = /^[A-Za-z0-9_]{1,128}$/;

/** Why `symbol` cannot name a finding, or undefined. */
export function findingSymbolProblem(symbol: unknown): string | undefined {
  if (typeof symbol !== 'string') return 'the symbol is not a string';
  if (!FINDING_SYMBOL.test(symbol)) return 'a symbol is 1 to 128 letters, digits and _';
  return undefined;
}

/** A config key naming a finding's symbol (a blocklist's, say): refused at check-config rather than a 451 per message. */
export const findingSymbol = () => s.string({ pattern: FINDING_SYMBOL, patternName: 'a symbol: 1 to 128 letters, digits and _' });

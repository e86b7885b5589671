// The one Authentication-Results header (RFC 8601) carrying the spf, dkim, dmarc and arc results.
import { withoutSpans } from '../../core/index.ts';
import type { SpfFact } from './spf-finding.ts';

/** A method=result clause: mailauth's formatted `info`, or our own for SPF. */
export type ResultClause = string;

function quoteIfNeeded(v: string): string {
  return /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/** The spf clause from the spf plugin's finding; smtp.mailfrom carries the envelope address when there is one. */
export function spfClause(spf: SpfFact | undefined, mailFrom: string): ResultClause {
  if (!spf) return 'spf=none (not checked)';
  return `spf=${spf.result} smtp.mailfrom=${quoteIfNeeded(mailFrom || spf.domain)}`;
}

/** One header value on a single line (the core writes header values unfolded). */
export function authenticationResults(authservId: string, clauses: ResultClause[]): string {
  const body = clauses.map((c) => c.replace(/[\r\n]+\s*/g, ' ').replace(/[^\x20-\x7e]/g, '?')).join('; ');
  return `${authservId}; ${body || 'none'}`;
}

/** The authserv-id an Authentication-Results value starts with, lower-cased, comments left out. */
export function authservIdOf(value: string): string {
  return withoutSpans(value.split(';')[0], '(', ')', '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
}

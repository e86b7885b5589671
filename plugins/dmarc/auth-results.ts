// The one Authentication-Results header (RFC 8601) carrying the spf, dkim, dmarc and arc results.
import type { SpfFact } from './spf-finding.ts';

/** A method=result clause: mailauth's formatted `info`, or our own for SPF. */
export type ResultClause = string;

function quoteIfNeeded(v: string): string {
  return /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * The spf clause from the spf plugin's finding. smtp.mailfrom is the envelope address, or for a null sender the
 * identity SPF checked, postmaster@<HELO name> (RFC 7208 2.4), as the spf plugin's Received-SPF says too.
 */
export function spfClause(spf: SpfFact | undefined, mailFrom: string): ResultClause {
  if (!spf) return 'spf=none (not checked)';
  const identity = mailFrom || (spf.domain && spf.domain !== '-' ? `postmaster@${spf.domain}` : '');
  return identity ? `spf=${spf.result} smtp.mailfrom=${quoteIfNeeded(identity)}` : `spf=${spf.result}`;
}

/** Text for a comment: `(`, `)` and `\\` escaped (RFC 5322 quoted-pair), so it cannot end early. */
function commentText(text: string): string {
  return text.replace(/[()\\]/g, '\\$&');
}

/**
 * The dmarc clause. header.from is the domain of the From address (RFC 7489 11.2, as OpenDMARC writes it; mailauth
 * writes the organisational domain). It carries no header.d: mailauth fills that with the From domain, which reads as
 * a signer even for a message that nobody signed.
 */
export function dmarcClause(result: string, comment: string, fromDomain: string): ResultClause {
  const note = comment ? ` (${commentText(comment)})` : '';
  return `dmarc=${result}${note} header.from=${quoteIfNeeded(fromDomain)}`;
}

/** One header value on a single line (the core writes header values unfolded). */
export function authenticationResults(authservId: string, clauses: ResultClause[]): string {
  const body = clauses.map((c) => c.replace(/[\r\n]+\s*/g, ' ').replace(/[^\x20-\x7e]/g, '?')).join('; ');
  return `${authservId}; ${body || 'none'}`;
}

/** A host name as authserv-ids are compared: lower case, without the root's trailing dot. */
export function comparableAuthservId(id: string): string {
  return id.toLowerCase().replace(/\.$/, '');
}

/** Where the comment opening at `start` ends (the index after its `)`), or -1 when it never closes. Comments nest. */
function commentEnd(value: string, start: number): number {
  let depth = 0;
  for (let i = start; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

/**
 * The authserv-id an Authentication-Results value starts with (RFC 8601 2.2: a token or a quoted string, after
 * optional comments), lower-cased and without a trailing dot, so that `"MX.Example.NET."` is read as the mailbox
 * behind us reads `mx.example.net`. One pass over the value; a comment or quoted string that never closes gives ''.
 */
export function authservIdOf(value: string): string {
  let i = 0;
  for (;;) {
    while (i < value.length && /\s/.test(value[i])) i++;
    if (value[i] !== '(') break;
    i = commentEnd(value, i);
    if (i < 0) return '';
  }
  let id = '';
  if (value[i] === '"') {
    let closed = false;
    for (i++; i < value.length; i++) {
      const c = value[i];
      if (c === '"') { closed = true; break; }
      id += c === '\\' ? value[++i] ?? '' : c;
    }
    if (!closed) return '';
  } else {
    const start = i;
    while (i < value.length && !/[\s;(]/.test(value[i])) i++;
    id = value.slice(start, i);
  }
  return comparableAuthservId(id.trim());
}

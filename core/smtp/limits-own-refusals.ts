// The refusals smtp-server gives by itself, before any handler of ours is asked: 503 for a command out of sequence
// (RCPT before MAIL, a second MAIL, DATA without RCPT), 501 for bad syntax (`MAIL FROM:bad`, a bad HELO name), 538
// for AUTH before TLS, 500 for an unknown verb. They are the client's errors as much as ours are, and Postfix's
// smtpd_hard_error_limit counts them; uncounted, a client could pipeline thousands of them on one connection.
import { countsAsError, enhancedOf, isOwnTrouble } from './limits-errors.ts';

/**
 * Whether a reply smtp-server is about to send is one of its own refusals that counts toward limits.max_errors.
 * Every reply the gateway itself decides carries its enhanced code at the start of its text (reply.ts), and those are
 * counted, or deliberately not, where they are decided; smtp-server writes only the bare text and adds the enhanced
 * code as it sends (`enhanced`, what it will add), which is how its own replies are told apart. A 421 ends the
 * connection anyway, and `countsAsError` leaves out what is not the client's error (a 451 4.3.0 when a handler threw).
 */
export function isOwnCountedRefusal(code: number, text: string | readonly string[] | undefined, enhanced: string): boolean {
  if (code < 400 || code === 421) return false;
  const first = String((Array.isArray(text) ? text[0] : text) ?? '');
  if (enhancedOf(first)) return false;
  return countsAsError(code, enhanced ? `${enhanced} ${first}` : first);
}

/**
 * Transactions whose MAIL the gateway refused for its own trouble (a 4.3.x: the disk known full, a check that failed),
 * by the envelope smtp-server keeps for a transaction until RSET, HELO or EHLO: how many RCPTs after that MAIL may
 * still get smtp-server's 503 uncounted.
 */
const refusedForOwnTrouble = new WeakMap<object, number>();

/** Notes how the MAIL of the transaction `envelope` belongs to was answered (`refusal` undefined when it was taken). */
export function noteMailReply(envelope: object, refusal: { responseCode?: number; message: string | string[] } | null | undefined, maxRecipients: number): void {
  if (refusal && isOwnTrouble(refusal.responseCode ?? 0, refusal.message)) refusedForOwnTrouble.set(envelope, maxRecipients);
  else refusedForOwnTrouble.delete(envelope);
}

/**
 * Whether smtp-server's refusal of `verb` only follows from a MAIL the gateway refused for its own trouble, and so is
 * not the client's error. A pipelining client sends its RCPTs and DATA with the MAIL, before it can read the 452
 * 4.3.1, and each of them gets 503: counted, they had the client dropped after two or three messages of a full disk
 * (and blocked, with limits.error_block). The group ends at the DATA (RFC 2920 §3.1), at RSET, HELO or EHLO (a new
 * envelope), and after `maxRecipients` RCPTs: no message names more, so a client going on is trying addresses.
 */
export function followsOwnTroubleRefusal(envelope: object, verb: string | undefined): boolean {
  const left = refusedForOwnTrouble.get(envelope);
  if (left === undefined) return false;
  if (verb === 'DATA') {
    refusedForOwnTrouble.delete(envelope);
    return true;
  }
  if (verb !== 'RCPT' || left === 0) return false;
  refusedForOwnTrouble.set(envelope, left - 1);
  return true;
}

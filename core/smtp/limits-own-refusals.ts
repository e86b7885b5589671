// The refusals smtp-server gives by itself, before any handler of ours is asked: 503 for a command out of sequence
// (RCPT before MAIL, a second MAIL, DATA without RCPT), 501 for bad syntax (`MAIL FROM:bad`, a bad HELO name), 538
// for AUTH before TLS, 500 for an unknown verb. They are the client's errors as much as ours are, and Postfix's
// smtpd_hard_error_limit counts them; uncounted, a client could pipeline thousands of them on one connection.
import { countsAsError } from './limits-errors.ts';

const ENHANCED_FIRST = /^\d\.\d{1,3}\.\d{1,3}(?=\s|$)/;

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
  if (ENHANCED_FIRST.test(first)) return false;
  return countsAsError(code, enhanced ? `${enhanced} ${first}` : first);
}

// The one form the gateway takes an envelope address in, whatever spelling of it the client sent: a domain beyond
// ASCII in lower-case A-labels, composed (NFC) first as UTS 46 reads it, without the root dot, under SMTPUTF8 or not;
// the local part exactly as sent, since only the mailbox's own server knows what it makes of one.
//
// Why A-labels and not the spelling sent (as Postfix keeps it under smtputf8_enable): one message otherwise logged
// `jürgen@müller.example` beside `anna@xn--mller-kva.example`, the queue held both, and a grep or a `moat queue --to`
// for one form missed the other. Every next hop takes the A-label form, SMTPUTF8 or not, and the server behind has to
// know it anyway: nearly every sender writes it so.
import { asciiDomain, isAscii } from '../text/ascii.ts';

/**
 * Code points that show nothing or steer how the text around them shows: bidi controls (a right-to-left override
 * makes `admin\u202Emoc.knab@` read as admin…bank.com), zero-width and other default-ignorable characters, and
 * controls. PRECIS (RFC 8264) disallows them in identifiers; the two joiners, which some scripts spell words with
 * (Persian's zero-width non-joiner), it allows in context, and they are let through here.
 */
const HIDDEN = /(?![\u200c\u200d])[\p{Default_Ignorable_Code_Point}\p{Cc}]/u;

/** `U+202E` for the first invisible or control code point in `address`; undefined when it has none. */
export function hiddenCodePoint(address: string): string | undefined {
  const m = HIDDEN.exec(address);
  return m ? `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : undefined;
}

/**
 * `address` in the form it is taken in (see the top of this file), or undefined when its domain has none: a name with
 * an empty label, or one beyond ASCII that IDNA cannot map. An address literal, a domainless `postmaster` and the
 * null sender are returned as they are.
 *
 * The root dot goes here as well as in address-command.ts: smtp-server maps an ideographic or full-width full stop
 * (U+3002, U+FF0E, U+FF61) to `.` as IDNA does, after the line was read, so `anna@müller.example。` arrives with one.
 */
export function takenForm(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const written = address.slice(at + 1);
  if (written.startsWith('[')) return address;
  const name = written.endsWith('.') ? written.slice(0, -1) : written;
  const domain = isAscii(name) ? name : asciiDomain(name.normalize('NFC')).toLowerCase();
  if (domain === '' || domain.split('.').includes('')) return undefined;
  return `${address.slice(0, at)}@${domain}`;
}

// MAIL FROM's and RCPT TO's address from smtp-server's parse to the one form the gateway holds it in (address-form.ts),
// or the refusal: the same steps, in the same order, for the sender and each recipient.
import type { SMTPServerAddress } from 'smtp-server';
import { takeAddressAsSent } from './address-as-sent.ts';
import { hiddenCodePoint, takenForm } from './address-form.ts';
import { isAscii } from '../text/ascii.ts';

/** Why an address is refused: the reply, and the reason the refusal's log line gives. */
export interface AddressRefusal { code: number; enhanced: string; text: string; reason: string }

/** smtp-server's own words for an address it cannot parse, and their enhanced codes (RFC 3463). */
const SYNTAX = { sender: ['5.1.7', 'Bad sender address syntax'], recipient: ['5.1.3', 'Bad recipient address syntax'] } as const;

/**
 * Puts `address` (smtp-server's parse of `line`) in the form it is taken in, or gives the refusal: an invisible or
 * control character (as smtp-server already refuses U+200B: 501), bytes that are not UTF-8 or a local part beyond
 * ASCII without SMTPUTF8 on MAIL FROM (553 5.6.7, RFC 6531 §3.3 and §3.4, as Postfix answers), a domain with no
 * A-label form (501).
 */
export function takeEnvelopeAddress(address: SMTPServerAddress, line: string | undefined, smtputf8: boolean, role: 'sender' | 'recipient'): AddressRefusal | undefined {
  const [enhanced, syntax] = SYNTAX[role];
  // Before the A-label the client sent is put back: smtp-server decoded it, so what it hides shows here.
  const hidden = hiddenCodePoint(address.address);
  if (hidden) return { code: 501, enhanced, text: `${syntax}: ${hidden} is an invisible or control character`, reason: 'invisible or control character' };
  if (!takeAddressAsSent(address, line)) return { code: 553, enhanced: '5.6.7', text: 'Address is not valid UTF-8', reason: 'not valid UTF-8' };
  const at = address.address.lastIndexOf('@');
  if (!smtputf8 && !isAscii(at < 0 ? address.address : address.address.slice(0, at))) {
    return { code: 553, enhanced: '5.6.7', text: 'An address beyond ASCII needs SMTPUTF8 on MAIL FROM', reason: 'no SMTPUTF8' };
  }
  const taken = takenForm(address.address);
  if (taken === undefined) return { code: 501, enhanced, text: `${syntax}: its domain has no IDNA (A-label) form`, reason: 'domain without an A-label form' };
  address.address = taken;
  return undefined;
}

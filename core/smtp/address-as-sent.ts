// The envelope address of a MAIL FROM or RCPT TO as the client sent it, where smtp-server's decoding changed it.
//
// smtp-server reads the line as UTF-8, so bytes that are not UTF-8 reach the handlers as U+FFFD: relayed, they became
// another address (`p��@example.org`). It also turns every A-label domain into Unicode, SMTPUTF8 or not: an address
// the client sent as `taro@xn--r8jz45g.jp` was relayed as `taro@例え.jp`, which a next hop without SMTPUTF8 refuses.
import type { SMTPServerAddress } from 'smtp-server';
import { splitPathAndParams } from './address-command.ts';
import { comparableDomain } from '../text/idn-address.ts';

const NOT_UTF8 = '\ufffd';

/**
 * Puts back into `address` the domain `line` (the command as sent) spelled it in, when smtp-server decoded an A-label.
 * False for an address that was not valid UTF-8 (RFC 6531 §3.3: mailbox names are UTF-8), which is to be refused.
 */
export function takeAddressAsSent(address: SMTPServerAddress, line: string | undefined): boolean {
  if (address.address.includes(NOT_UTF8)) return false;
  // Only an A-label is decoded: a line without one, nearly every line, has nothing to put back.
  if (line === undefined || !/xn--/i.test(line)) return true;
  const sentDomain = domainOfPath(line);
  const at = address.address.lastIndexOf('@');
  if (sentDomain === undefined || at < 0) return true;
  const decoded = address.address.slice(at + 1);
  if (sentDomain !== decoded && comparableDomain(sentDomain) === comparableDomain(decoded)) {
    address.address = `${address.address.slice(0, at)}@${sentDomain}`;
  }
  return true;
}

/** `MAIL FROM:<@relay.example:a@xn--bcher-kva.example> SIZE=1` → `xn--bcher-kva.example`; undefined without a domain. */
function domainOfPath(line: string): string | undefined {
  const colon = line.indexOf(':');
  if (colon < 0) return undefined;
  let path = splitPathAndParams(line.slice(colon + 1)).path;
  if (path.startsWith('<') && path.endsWith('>')) path = path.slice(1, -1);
  // A source route (`@a.example,@b.example:`) is ignored, as smtp-server ignores it.
  if (path.startsWith('@')) path = path.slice(path.indexOf(':') + 1);
  const at = path.lastIndexOf('@');
  // A domain written from the root (`xn--bcher-kva.example.`) reached the handlers without its dot (address-command.ts).
  return at < 0 ? undefined : path.slice(at + 1).replace(/\.$/, '');
}

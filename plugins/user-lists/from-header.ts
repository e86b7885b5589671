// The author addresses of a message: every address in its From fields (a group's members included).
import addressparser from 'nodemailer/lib/addressparser';
import type { MessageView } from '../../core/index.ts';
import { asciiDomain } from '../../core/text/ascii.ts';
import { headerValueText } from '../../core/text/header-value.ts';

/**
 * Addresses of every From field, in order, in the form list entries are kept: lower case (Unicode's own lower-case
 * mapping, as `moat lists` writes entries, so `Пётр@` is `пётр@`), the local part in NFC and the domain in A-label
 * form (`bücher.example` → `xn--bcher-kva.example`); empty when there is none or none parses. A field in raw UTF-8
 * (SMTPUTF8 mail, RFC 6532) is read as UTF-8, one in other 8-bit bytes as Windows-1252 (Latin-1).
 */
export function fromAddresses(message: MessageView | undefined): string[] {
  const out: string[] = [];
  for (const value of message?.headers.all('From') ?? []) {
    for (const a of addressparser(headerValueText(value), { flatten: true })) {
      const address = authorAddress(a.address ?? '');
      if (address) out.push(address);
    }
  }
  return [...new Set(out)];
}

/**
 * `address` as list entries are compared, or '' when it has no `@`. One with no local part or domain, or a domain with
 * no A-label form, stays as written: it meets no entry, yet is still one of the authors.
 */
function authorAddress(address: string): string {
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf('@');
  if (at < 0) return '';
  if (at === 0 || at === a.length - 1) return a;
  const domain = a.slice(at + 1);
  return `${a.slice(0, at).normalize('NFC')}@${asciiDomain(domain) || domain}`;
}

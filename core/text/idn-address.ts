// An address's ASCII form: its domain in A-labels (RFC 5890), the form any next hop takes, with or without SMTPUTF8.
import { asciiDomain, isAscii } from './ascii.ts';

/**
 * `taro@例え.jp` → `taro@xn--r8jz45g.jp`; an ASCII address as it is. Undefined when the local part is beyond ASCII,
 * which only SMTPUTF8 can carry (RFC 6531 §3.2), or when the domain has no A-label form. A domain-less address
 * (`postmaster`) is returned as it is.
 */
export function aLabelAddress(address: string): string | undefined {
  if (isAscii(address)) return address;
  const at = address.lastIndexOf('@');
  if (at < 0 || !isAscii(address.slice(0, at))) return undefined;
  const domain = asciiDomain(address.slice(at + 1));
  return domain ? `${address.slice(0, at)}@${domain}` : undefined;
}

/** A domain or route key in the one form both of an IDN's spellings share: lower-case A-labels, no trailing dot. */
export function comparableDomain(name: string): string {
  const lower = name.toLowerCase().replace(/\.$/, '');
  return (asciiDomain(lower) || lower).toLowerCase();
}

/**
 * `bücher.example` → `xn--bcher-kva.example` when the name is a host name (letters, digits and inner hyphens per
 * label), else undefined: the URL rules behind the conversion let through names DNS has no use for (`ü!x`).
 */
export function aLabelHostName(name: string): string | undefined {
  const ascii = asciiDomain(name).toLowerCase();
  if (!ascii || ascii.length > 253) return undefined;
  return ascii.split('.').every((label) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) ? ascii : undefined;
}

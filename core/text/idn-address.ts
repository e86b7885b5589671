// An address's ASCII form: its domain in A-labels (RFC 5890), the form any next hop takes, with or without SMTPUTF8;
// the one form two spellings of a domain are compared in; and the form a person reads.
import { domainToUnicode } from 'node:url';
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

/**
 * A domain or route key in the one form every spelling of an IDN shares: lower-case A-labels, no trailing dot.
 * Composed first (NFC), as UTS 46 maps a name: `mu\u0308ller.example`, the ü as u and a combining diaeresis, is
 * `müller.example`, and a name the conversion refuses is still compared in one composition.
 */
export function comparableDomain(name: string): string {
  const lower = name.toLowerCase().normalize('NFC').replace(/\.$/, '');
  return (asciiDomain(lower) || lower).toLowerCase();
}

/**
 * An address with its domain in comparableDomain's form and its local part as written: `taro@例え.jp` and
 * `taro@XN--R8JZ45G.jp` are both `taro@xn--r8jz45g.jp`. An ASCII address keeps its local part and lower-cases its
 * domain; one without a domain is returned as it is.
 */
export function comparableAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : `${address.slice(0, at)}@${comparableDomain(address.slice(at + 1))}`;
}

/**
 * An address as a person reads it: its domain in Unicode (`用户@xn--fsqu00a.xn--4rr70v` → `用户@例子.广告`), so that
 * a Unicode local part does not stand beside A-labels. The local part is kept; an ASCII domain without A-labels, or
 * one the conversion refuses, is kept as written.
 */
export function readableAddress(address: string): string {
  const at = address.lastIndexOf('@');
  const domain = address.slice(at + 1);
  if (at < 0 || !/(?:^|\.)xn--/i.test(domain)) return address;
  const unicode = domainToUnicode(domain);
  return unicode ? `${address.slice(0, at)}@${unicode}` : address;
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

// Whether text is plain ASCII: the test behind SMTPUTF8 (addresses), RFC 2047 (header text) and 7bit/8bit choices;
// and a domain in the ASCII form DNS and the lists carry.
import { domainToASCII } from 'node:url';

/** True when every character of `text` is ASCII (U+0000–U+007F). */
export function isAscii(text: string): boolean {
  return !/[^\x00-\x7f]/.test(text);
}

/**
 * A domain as DNS carries it: internationalized labels become A-labels (`bücher.example` → `xn--bcher-kva.example`),
 * '' when they cannot. Only non-ASCII names go through the URL host rules, which would refuse some names DNS allows
 * (`1.2.3.4`); an ASCII name is returned as it is (the caller lower-cases it).
 */
export function asciiDomain(name: string): string {
  return isAscii(name) ? name : domainToASCII(name);
}

// Identifier alignment as the DMARC record asks for it (RFC 7489 3.1).
//
// mailauth 4.13 calls its alignment test with an options object where it expects a boolean, so `adkim=s` and
// `aspf=s` are always judged as relaxed: a pass it reports is checked again here against the exact From domain.
import { getDomain } from 'tldts';

function bare(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

/** The organisational domain, by the public suffix list (private suffixes too, as mailauth counts them). */
export function organisational(domain: string): string {
  const d = bare(domain);
  return getDomain(d, { allowPrivateDomains: true }) ?? d;
}

/**
 * Whether `domain` (a signing or envelope domain) aligns with the From domain: equal under strict alignment,
 * the same organisational domain under relaxed.
 */
export function aligns(domain: string, fromDomain: string, strict: boolean | undefined): boolean {
  return strict ? bare(domain) === bare(fromDomain) : organisational(domain) === organisational(fromDomain);
}

/**
 * The aligned domain: with strict alignment one of `domains` that equals the From domain, else the domain
 * mailauth found by comparing organisational domains (`relaxed`), or undefined.
 */
export function alignedDomain(fromDomain: string, domains: readonly string[], strict: boolean | undefined, relaxed: string | false | undefined): string | undefined {
  if (!strict) return relaxed || undefined;
  return domains.find((d) => aligns(d, fromDomain, true));
}

// Identifier alignment as the DMARC record asks for it (RFC 7489 3.1).
//
// mailauth 4.13 calls its alignment test with an options object where it expects a boolean, so `adkim=s` and
// `aspf=s` are always judged as relaxed: a pass it reports is checked again here against the exact From domain.

function bare(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

/**
 * The aligned domain: with strict alignment one of `domains` that equals the From domain, else the domain
 * mailauth found by comparing organisational domains (`relaxed`), or undefined.
 */
export function alignedDomain(fromDomain: string, domains: readonly string[], strict: boolean | undefined, relaxed: string | false | undefined): string | undefined {
  if (!strict) return relaxed || undefined;
  const from = bare(fromDomain);
  return domains.find((d) => bare(d) === from);
}

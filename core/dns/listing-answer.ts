// What a DNS list's A answer means, for every plugin that asks one (client IP lists, URL host lists).

/**
 * Whether an answer is a listing. Outside 127.0.0.0/8 it comes from a resolver that rewrites NXDOMAIN. Inside it,
 * lists say "we refuse to answer you" with codes that must never block or allowlist anyone: 127.255.255.x
 * (Spamhaus: public resolver, over quota), a last octet of 255 (dnswl.org 127.0.0.255 over quota, Spamhaus DBL
 * 127.0.1.255 for IP queries) and 127.0.0.1 (SURBL and URIBL: resolver blocked; RFC 5782 keeps it out of listings).
 */
export function isListingAnswer(a: string): boolean {
  const octets = a.split('.');
  if (octets.length !== 4 || octets[0] !== '127') return false;
  return a !== '127.0.0.1' && !a.startsWith('127.255.255.') && octets[3] !== '255';
}

// Decides whether a domain can receive mail: an MX that is not null, or else an A or AAAA record (RFC 5321 5.1).
import { DnsError, type DnsResolver } from '../../core/index.ts';

export type DomainStatus =
  | { ok: true; via: 'MX' | 'A' | 'AAAA' }
  | { ok: false; reason: 'NULL_MX' | 'NXDOMAIN' | 'NO_ADDRESS' }
  | { ok: false; reason: 'UNAVAILABLE'; error: DnsError };

const settle = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error: asDnsError(error) }));

function asDnsError(e: unknown): DnsError {
  return e instanceof DnsError ? e : new DnsError('OTHER', '', '', (e as Error)?.message);
}

const notFound = (e: DnsError) => e.notFound || e.code === 'FORMERR';

export async function domainStatus(dns: DnsResolver, domain: string): Promise<DomainStatus> {
  // All three at once: most domains have an MX, but waiting for it before asking A/AAAA doubles the time of the rest.
  const [mx, a, aaaa] = await Promise.all([settle(dns.resolveMx(domain)), settle(dns.resolve4(domain)), settle(dns.resolve6(domain))]);
  if ('value' in mx && mx.value.length) {
    // RFC 7505: a single MX with the root as exchange says the domain takes no mail.
    if (mx.value.length === 1 && mx.value[0].exchange === '') return { ok: false, reason: 'NULL_MX' };
    return { ok: true, via: 'MX' };
  }
  // Without the MX answer we cannot tell a null MX from none: an A record alone proves nothing then.
  if ('error' in mx && !notFound(mx.error)) return { ok: false, reason: 'UNAVAILABLE', error: mx.error };
  if ('value' in a && a.value.length) return { ok: true, via: 'A' };
  if ('value' in aaaa && aaaa.value.length) return { ok: true, via: 'AAAA' };
  for (const r of [a, aaaa]) if ('error' in r && !notFound(r.error)) return { ok: false, reason: 'UNAVAILABLE', error: r.error };
  const nx = [mx, a, aaaa].some((r) => 'error' in r && r.error.code === 'NXDOMAIN');
  return { ok: false, reason: nx ? 'NXDOMAIN' : 'NO_ADDRESS' };
}

// Reverse DNS of a client: its PTR names and, when asked, whether one of them resolves back to the same address.
import { DnsError, type DnsResolver } from '../../core/index.ts';

export type PtrStatus =
  | { state: 'confirmed' | 'present'; names: string[]; name?: string }
  | { state: 'missing' }
  | { state: 'not_confirmed'; names: string[] }
  | { state: 'unavailable'; error: DnsError };

/** Names tried for confirmation; a long PTR set is a spam signal, not a reason to make many lookups. */
const MAX_NAMES = 10;

const asDnsError = (e: unknown) => (e instanceof DnsError ? e : new DnsError('OTHER', '', 'PTR', (e as Error)?.message));

function sameIp(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || a.replace(/^::ffff:/i, '') === b.replace(/^::ffff:/i, '');
}

export async function ptrStatus(dns: DnsResolver, ip: string, fcrdns: boolean): Promise<PtrStatus> {
  let names: string[];
  try {
    names = (await dns.reverse(ip)).filter((n) => n.length > 0);
  } catch (e) {
    const err = asDnsError(e);
    return err.notFound ? { state: 'missing' } : { state: 'unavailable', error: err };
  }
  if (!names.length) return { state: 'missing' };
  if (!fcrdns) return { state: 'present', names };
  const v6 = ip.includes(':') && !/^::ffff:\d/i.test(ip);
  const results = await Promise.allSettled(names.slice(0, MAX_NAMES).map((n) => (v6 ? dns.resolve6(n) : dns.resolve4(n))));
  const bare = ip.replace(/^::ffff:/i, '');
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (r.status === 'fulfilled' && r.value.some((a) => sameIp(a, bare))) return { state: 'confirmed', names, name: names[i] };
  }
  const temp = results.find((r) => r.status === 'rejected' && !asDnsError(r.reason).notFound && asDnsError(r.reason).code !== 'FORMERR');
  if (temp) return { state: 'unavailable', error: asDnsError((temp as PromiseRejectedResult).reason) };
  return { state: 'not_confirmed', names };
}

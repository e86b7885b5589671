// Where a domain's mail goes when delivered directly: MX hosts in preference order, implicit MX, null MX, and their addresses.
import { DnsError, type DnsResolver } from '../dns/types.ts';

/** An MX host and its preference (0 for the implicit MX, the domain itself). */
export interface MxHost { name: string; preference: number }

export type MxAnswer =
  | { ok: true; hosts: MxHost[]; implicit: boolean }
  | { ok: false; permanent: boolean; reply: string };

function shuffle<T>(list: T[]): T[] {
  for (let i = list.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [list[i], list[j]] = [list[j], list[i]]; }
  return list;
}

/** MX hosts of `domain`, lowest preference first and shuffled within a preference (RFC 5321 §5.1). */
export async function mxHosts(dns: DnsResolver, domain: string): Promise<MxAnswer> {
  try {
    const mx = await dns.resolveMx(domain);
    if (mx.some((m) => m.exchange === '' || m.exchange === '.')) {
      return { ok: false, permanent: true, reply: `556 5.1.10 ${domain} does not accept mail (null MX)` };
    }
    const byPref = new Map<number, string[]>();
    for (const m of mx) byPref.set(m.priority, [...(byPref.get(m.priority) ?? []), m.exchange.replace(/\.$/, '').toLowerCase()]);
    const seen = new Set<string>();
    const hosts: MxHost[] = [];
    for (const preference of [...byPref.keys()].sort((a, b) => a - b)) {
      // A host listed twice counts at its best preference.
      for (const name of shuffle(byPref.get(preference)!)) if (!seen.has(name)) { seen.add(name); hosts.push({ name, preference }); }
    }
    if (hosts.length) return { ok: true, hosts, implicit: false };
    return { ok: true, hosts: [{ name: domain, preference: 0 }], implicit: true };
  } catch (e) {
    if (e instanceof DnsError && e.code === 'NXDOMAIN') return { ok: false, permanent: true, reply: `550 5.1.2 ${domain}: domain does not exist` };
    // No MX records: the domain itself is the implicit MX (RFC 5321 §5.1).
    if (e instanceof DnsError && e.code === 'NODATA') return { ok: true, hosts: [{ name: domain, preference: 0 }], implicit: true };
    return { ok: false, permanent: false, reply: `451 4.4.3 MX lookup for ${domain} failed: ${(e as Error).message}` };
  }
}

/** IPv4 then IPv6 addresses of a host; `temporary` when a lookup failed in a way that may pass. */
export async function hostAddresses(dns: DnsResolver, host: string): Promise<{ addresses: string[]; temporary: boolean }> {
  const out: string[] = [];
  let temporary = false;
  for (const lookup of [dns.resolve4.bind(dns), dns.resolve6.bind(dns)]) {
    try { out.push(...await lookup(host)); } catch (e) { if (!(e instanceof DnsError) || e.temporary) temporary = true; }
  }
  return { addresses: out, temporary };
}

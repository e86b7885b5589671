// An in-memory DnsResolver built from a conformance-suite section's `zonedata` (format: the openspf suites in test/fixtures/spf-tests).
import net from 'node:net';
import { DnsError, type DnsResolver, type MxRecord } from '../../core/index.ts';

type RecordValue = string | string[] | [number, string];
type ZoneEntry = 'TIMEOUT' | Record<string, RecordValue>;
export type ZoneData = Record<string, ZoneEntry[]>;

interface Node {
  records: Map<string, RecordValue[]>;
  /** Types listed as `NONE`: explicitly without records. */
  none: Set<string>;
  timeout: boolean;
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function reverseName(ip: string): string {
  if (net.isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  // Expand to 32 nibbles; node's URL-free way is to go through the 8 groups.
  const [l, r = ''] = ip.includes('::') ? ip.split('::') : [ip, undefined as unknown as string];
  const lg = l ? l.split(':') : [];
  const rg = ip.includes('::') && r ? r.split(':') : [];
  const groups = ip.includes('::') ? [...lg, ...new Array(8 - lg.length - rg.length).fill('0'), ...rg] : lg;
  const hex = groups.map((g) => g.padStart(4, '0')).join('');
  return `${hex.split('').reverse().join('.')}.ip6.arpa`;
}

/** Builds the resolver; names absent from the zone answer NXDOMAIN, and CNAMEs are followed. */
export function zoneResolver(zone: ZoneData): DnsResolver {
  const nodes = new Map<string, Node>();
  for (const [name, entries] of Object.entries(zone ?? {})) {
    const node: Node = { records: new Map(), none: new Set(), timeout: false };
    for (const e of entries ?? []) {
      if (e === 'TIMEOUT') { node.timeout = true; continue; }
      for (const [type, value] of Object.entries(e)) {
        if (value === 'NONE') { node.none.add(type); continue; }
        const list = node.records.get(type) ?? [];
        list.push(value);
        node.records.set(type, list);
      }
    }
    // RFC 7208 dropped the SPF type: the suite's convention is to serve SPF entries as TXT unless TXT is given.
    if (node.records.has('SPF') && !node.records.has('TXT') && !node.none.has('TXT')) node.records.set('TXT', node.records.get('SPF')!);
    nodes.set(normalise(name), node);
  }

  function lookup(name: string, type: string, hops = 0): RecordValue[] {
    const key = normalise(name);
    const node = nodes.get(key);
    if (!node) throw new DnsError('NXDOMAIN', name, type);
    const found = node.records.get(type);
    if (found?.length) return found;
    const cname = node.records.get('CNAME');
    if (cname?.length && type !== 'CNAME') {
      if (hops > 8) throw new DnsError('SERVFAIL', name, type, `CNAME loop at ${name}`);
      return lookup(cname[0] as string, type, hops + 1);
    }
    if (node.timeout) throw new DnsError('TIMEOUT', name, type);
    throw new DnsError('NODATA', name, type);
  }

  const strings = (name: string, type: string) => lookup(name, type).map((v) => String(v));
  return {
    async resolve4(name) { return strings(name, 'A'); },
    async resolve6(name) { return strings(name, 'AAAA'); },
    async resolveMx(name): Promise<MxRecord[]> {
      return lookup(name, 'MX').map((v) => { const [priority, exchange] = v as [number, string]; return { priority, exchange }; });
    },
    async resolveTxt(name) { return lookup(name, 'TXT').map((v) => (Array.isArray(v) ? v.join('') : String(v))); },
    async reverse(ip) { return strings(reverseName(ip), 'PTR'); },
    async resolvePtr(name) { return strings(name, 'PTR'); },
  };
}

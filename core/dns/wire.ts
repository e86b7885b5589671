// Builds DNS queries and reads answers (RFC 1035 wire format through dns-packet), including TTLs and negative-answer TTLs.
import dnsPacket from 'dns-packet';
import type { MxRecord } from './types.ts';

export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'NS' | 'CNAME';
export type RecordValue = string | MxRecord;

/** What one server said about one question. */
export interface WireAnswer {
  rcode: string;
  truncated: boolean;
  records: RecordValue[];
  /** Smallest TTL of the answer (records and the CNAMEs leading to them), seconds. */
  ttl: number;
  /** Negative-caching TTL from the SOA in the authority section (RFC 2308), seconds; undefined without SOA. */
  negativeTtl?: number;
  /** No answer but a delegation (NS, no SOA, not authoritative): the server did not recurse for us (RFC 2308 2.2). */
  referral: boolean;
}

/** Our EDNS buffer: large enough for most TXT sets, small enough to avoid IP fragmentation. */
const EDNS_SIZE = 1232;

export function encodeQuery(id: number, name: string, type: RecordType, edns: boolean): Buffer {
  return dnsPacket.encode({
    type: 'query', id, flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_SIZE, flags: 0, options: [] } as unknown as dnsPacket.Answer] : [],
  });
}

/** Decodes a reply; returns undefined when it does not answer this query (wrong id or question) or is garbage. */
export function decodeAnswer(buf: Buffer, id: number, name: string, type: RecordType): WireAnswer | undefined {
  let p: dnsPacket.DecodedPacket & { rcode?: string };
  try { p = dnsPacket.decode(buf) as typeof p; } catch { return undefined; }
  if (p.type !== 'response' || p.id !== id) return undefined;
  const q = p.questions?.[0];
  if (!q || q.type !== type || q.name.toLowerCase().replace(/\.$/, '') !== name) return undefined;
  const records: RecordValue[] = [];
  let ttl = Infinity;
  for (const a of p.answers ?? []) {
    if (a.type !== type && a.type !== 'CNAME') continue;
    ttl = Math.min(ttl, a.ttl ?? 0);
    if (a.type !== type) continue;
    records.push(toValue(a));
  }
  let negativeTtl: number | undefined;
  let delegation = false;
  for (const a of p.authorities ?? []) {
    if (a.type === 'SOA') negativeTtl = Math.min(a.ttl ?? 0, a.data.minimum ?? 0);
    if (a.type === 'NS') delegation = true;
  }
  const rcode = p.rcode ?? 'NOERROR';
  const referral = rcode === 'NOERROR' && !records.length && negativeTtl === undefined && delegation && !p.flag_aa;
  return { rcode, truncated: p.flag_tc, records, ttl: ttl === Infinity ? 0 : ttl, negativeTtl, referral };
}

function toValue(a: dnsPacket.Answer): RecordValue {
  switch (a.type) {
    case 'MX': {
      // A null MX (RFC 7505) has the root as exchange; node:dns reports it as '' and so do we.
      const ex = a.data.exchange.replace(/\.$/, '');
      return { exchange: ex === '.' ? '' : ex.toLowerCase(), priority: a.data.preference ?? 0 };
    }
    case 'TXT': {
      const parts = Array.isArray(a.data) ? a.data : [a.data];
      return parts.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x))).join('');
    }
    case 'A': case 'AAAA':
      return a.data;
    case 'PTR': case 'NS': case 'CNAME':
      return a.data.replace(/\.$/, '').toLowerCase();
    default:
      return String((a as { data?: unknown }).data);
  }
}

/** The in-addr.arpa / ip6.arpa name of an address, or undefined when it is not one. */
export function reverseName(ip: string): string | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) return `${v4.slice(1).reverse().map(Number).join('.')}.in-addr.arpa`;
  const nibbles = expandIpv6(ip);
  return nibbles ? `${nibbles.split('').reverse().join('.')}.ip6.arpa` : undefined;
}

/** The 32 hex digits of an IPv6 address (IPv4-mapped tails allowed), or undefined. */
export function expandIpv6(ip: string): string | undefined {
  let s = ip.toLowerCase();
  if (!s.includes(':')) return undefined;
  const tail = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (tail) {
    const b = tail.slice(1).map(Number);
    if (b.some((x) => x > 255)) return undefined;
    s = s.slice(0, tail.index) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - left.length - right.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const groups = [...left, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...right];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** True when the name can be sent: labels of 1–63 bytes, 253 bytes in all. */
export function validName(name: string): boolean {
  if (!name || name.length > 253) return false;
  return name.split('.').every((l) => l.length > 0 && l.length <= 63);
}

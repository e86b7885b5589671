// IP addresses as byte arrays for SPF: parsing, CIDR matching, reverse-lookup names and the i/c macro forms.
import net from 'node:net';

export interface ClientIp {
  family: 4 | 6;
  bytes: Uint8Array;
  /** The address as SPF shows it (%{c}): dotted quad, or compressed lower-case IPv6. */
  text: string;
}

function v4Bytes(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}

/** 16 bytes of an IPv6 address, expanding `::` and an embedded dotted quad. */
function v6Bytes(s: string): Uint8Array {
  let head = s;
  let tail4: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail4 = Array.from(v4Bytes(s.slice(lastColon + 1)));
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const l = parse(left);
  const r = right === undefined ? [] : parse(right);
  const groups = right === undefined ? l : [...l, ...new Array(8 - l.length - r.length).fill(0), ...r];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { out[i * 2] = g >> 8; out[i * 2 + 1] = g & 0xff; });
  if (tail4.length) out.set(tail4, 12);
  return out;
}

function v6Text(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  // Compress the longest run of two or more zero groups, as RFC 5952 asks.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Parses the connecting client's address; an IPv4-mapped IPv6 address counts as IPv4 (RFC 7208 5/9). */
export function parseClientIp(ip: string): ClientIp | undefined {
  const s = ip.trim().replace(/^\[|\]$/g, '').replace(/^ipv6:/i, '');
  if (net.isIPv4(s)) return { family: 4, bytes: v4Bytes(s), text: s };
  if (!net.isIPv6(s)) return undefined;
  const b = v6Bytes(s);
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    const v4 = b.slice(12);
    return { family: 4, bytes: v4, text: Array.from(v4).join('.') };
  }
  return { family: 6, bytes: b, text: v6Text(b) };
}

/** Bytes of an ip4/ip6 mechanism network, or undefined when it is not a valid address of that family. */
export function parseNetwork(s: string, family: 4 | 6): Uint8Array | undefined {
  if (family === 4) return net.isIPv4(s) ? v4Bytes(s) : undefined;
  return net.isIPv6(s) ? v6Bytes(s) : undefined;
}

/** True when the first `prefix` bits of both addresses agree. */
export function inPrefix(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  if (a.length !== b.length) return false;
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full] & mask) === (b[full] & mask);
}

/** Whether a textual address from DNS lies in the client's network of that prefix length. */
export function addressMatches(client: ClientIp, address: string, prefix: number): boolean {
  const other = parseClientIp(address);
  if (!other || other.family !== client.family) return false;
  return inPrefix(client.bytes, other.bytes, prefix);
}

/** %{i}: dotted decimal for IPv4, dot-separated nibbles for IPv6. */
export function macroIp(client: ClientIp): string {
  if (client.family === 4) return Array.from(client.bytes).join('.');
  return Array.from(client.bytes).flatMap((b) => [(b >> 4).toString(16), (b & 15).toString(16)]).join('.');
}

/** The name under in-addr.arpa or ip6.arpa that holds the client's PTR records. */
export function reverseName(client: ClientIp): string {
  return `${macroIp(client).split('.').reverse().join('.')}.${client.family === 4 ? 'in-addr' : 'ip6'}.arpa`;
}

// The network block a client address falls in, as one string per block, so that counters can be kept per /64 (or any
// prefix) instead of per address: an IPv6 host picks any address of its /64 at will, and per address it is a new
// client each time. Runs on every connection, so it parses by hand instead of through a CIDR library.
import net from 'node:net';
import { normalizeIp } from './cidr.ts';

/** The prefix lengths a client is counted by, per family. */
export interface PrefixLengths {
  v4: number;
  v6: number;
}

/**
 * `ip`'s block under `lengths`: `198.51.100.0/24`, `2001:db8:5::/64`, or the address alone (in canonical form) when the
 * length is the whole address. IPv4-mapped IPv6 addresses are IPv4 addresses; anything that is not an address is
 * returned unchanged, so that it is still counted, as itself.
 */
export function clientBlock(ip: string, lengths: PrefixLengths): string {
  const a = normalizeIp(ip);
  const family = net.isIP(a);
  if (family === 4) return ipv4Block(a, lengths.v4);
  if (family === 6) return ipv6Block(a, lengths.v6);
  return a;
}

/** Whether `block` (from clientBlock) names a network rather than one address. */
export function isNetworkBlock(block: string): boolean { return block.includes('/'); }

function ipv4Block(a: string, bits: number): string {
  if (bits >= 32) return a;
  const p = a.split('.');
  const n = ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
  const masked = bits <= 0 ? 0 : (n & (~0 << (32 - bits))) >>> 0;
  return `${masked >>> 24}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${bits}`;
}

function ipv6Block(a: string, bits: number): string {
  const groups = ipv6Groups(a);
  if (bits >= 128) return formatIpv6(groups);
  const keep = Math.max(0, bits);
  for (let i = 0; i < 8; i++) {
    const left = keep - i * 16;
    if (left <= 0) groups[i] = 0;
    else if (left < 16) groups[i] &= (0xffff << (16 - left)) & 0xffff;
  }
  return `${formatIpv6(groups)}/${keep}`;
}

/** The eight 16-bit groups of an address net.isIPv6 accepted (a trailing dotted IPv4 part included). */
function ipv6Groups(a: string): number[] {
  let text = a;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > 0) {
    const p = text.slice(lastColon + 1).split('.').map(Number);
    tail.push((p[0] << 8) | p[1], (p[2] << 8) | p[3]);
    text = text.slice(0, lastColon + 1) + '0';
  }
  const [head, rest] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  const back = parse(rest);
  if (tail.length) back.length ? back.pop() : front.pop();
  const groups = rest === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length - tail.length).fill(0), ...back];
  return [...groups, ...tail];
}

/** RFC 5952's text: lower case, no leading zeros, the longest run of two or more zero groups (the first of equals) as `::`. */
function formatIpv6(g: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

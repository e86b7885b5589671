// The network block a client address falls in, as one string per block, so that counters can be kept per /64 (or any
// prefix) instead of per address: an IPv6 host picks any address of its /64 at will, and per address it is a new
// client each time. Runs on every connection, so it parses by hand instead of through a CIDR library.
import net from 'node:net';
import { normalizeIp } from './cidr.ts';
import { formatIpv6, ipv6Groups } from './ipv6-text.ts';

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

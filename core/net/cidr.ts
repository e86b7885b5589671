// IP and CIDR matching for access lists, relay networks and trusted proxies (IPv4, IPv6, and IPv4-mapped IPv6).
import net from 'node:net';

/**
 * An IPv4-mapped IPv6 address as the IPv4 address it is, so lists written in IPv4 match: `::ffff:192.0.2.1`, and the
 * hex form the URL parser writes (`::ffff:c000:201`). A link-local client's zone index (`fe80::1%eth0`) is dropped:
 * it names our interface, not the client, and no reverse or blocklist name can be built with it.
 */
export function normalizeIp(raw: string): string {
  const ip = raw.replace(/%.*$/, '');
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (dotted) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (!hex) return ip;
  const hi = parseInt(hex[1], 16);
  const lo = parseInt(hex[2], 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

export class CidrList {
  // One list per family: Node's BlockList also matches an IPv4 address against IPv6 rules as ::ffff:a.b.c.d, so an
  // IPv6 entry such as ::/0 (meant as "every IPv6 client") would have matched every IPv4 client as well.
  private readonly v4 = new net.BlockList();
  private readonly v6 = new net.BlockList();
  readonly size: number;
  /** Throws on an entry that is neither an address nor a CIDR, so that a typo fails at start rather than never matching. */
  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, rawBits, extra] = c.trim().split('/');
      const a = normalizeIp(addr);
      const family = net.isIP(a);
      const syntax = rawBits === undefined || /^\d{1,3}$/.test(rawBits);
      // An IPv4-mapped network is the IPv4 network it covers (::ffff:192.0.2.0/120 is 192.0.2.0/24): its prefix
      // counts from bit 96, and it had been refused as longer than 32.
      let bits = rawBits === undefined ? undefined : Number(rawBits);
      if (bits !== undefined && family === 4 && addr.includes(':')) {
        if (bits < 96) throw new Error(`not an IP address or CIDR: ${c} (an IPv4-mapped network needs a prefix of at least 96)`);
        bits -= 96;
      }
      const max = family === 4 ? 32 : 128;
      if (!family || extra !== undefined || !syntax || (bits !== undefined && bits > max)) {
        throw new Error(`not an IP address or CIDR: ${c}`);
      }
      const list = family === 4 ? this.v4 : this.v6;
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) list.addAddress(a, type);
      else list.addSubnet(a, bits, type);
    }
    this.size = cidrs.length;
  }
  has(ip: string): boolean {
    if (this.size === 0) return false;
    const a = normalizeIp(ip);
    const family = net.isIP(a);
    if (family === 4) return this.v4.check(a, 'ipv4');
    return family === 6 ? this.v6.check(a, 'ipv6') : false;
  }
}

// IP and CIDR matching for access lists, relay networks and trusted proxies (IPv4, IPv6, and IPv4-mapped IPv6).
import net from 'node:net';

/**
 * An IPv4-mapped IPv6 address as the IPv4 address it is, so lists written in IPv4 match: `::ffff:192.0.2.1`, and the
 * hex form the URL parser writes (`::ffff:c000:201`).
 */
export function normalizeIp(ip: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (dotted) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (!hex) return ip;
  const hi = parseInt(hex[1], 16);
  const lo = parseInt(hex[2], 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

export class CidrList {
  private readonly list = new net.BlockList();
  readonly size: number;
  /** Throws on an entry that is neither an address nor a CIDR, so that a typo fails at start rather than never matching. */
  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, bits, extra] = c.trim().split('/');
      const a = normalizeIp(addr);
      const family = net.isIP(a);
      const max = family === 4 ? 32 : 128;
      if (!family || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) {
        throw new Error(`not an IP address or CIDR: ${c}`);
      }
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(a, type);
      else this.list.addSubnet(a, Number(bits), type);
    }
    this.size = cidrs.length;
  }
  has(ip: string): boolean {
    if (this.size === 0) return false;
    const a = normalizeIp(ip);
    const type = net.isIPv6(a) ? 'ipv6' : 'ipv4';
    return net.isIP(a) ? this.list.check(a, type) : false;
  }
}

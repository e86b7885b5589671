// IP and CIDR matching for access lists, relay networks and trusted proxies (IPv4, IPv6, and IPv4-mapped IPv6).
import net from 'node:net';

/** Strips `::ffff:` from IPv4-mapped IPv6 addresses so lists written in IPv4 match. */
export function normalizeIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1] : ip;
}

export class CidrList {
  private readonly list = new net.BlockList();
  readonly size: number;
  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, bits] = c.split('/');
      const a = normalizeIp(addr);
      const type = net.isIPv6(a) ? 'ipv6' : 'ipv4';
      if (!net.isIP(a)) throw new Error(`not an IP address or CIDR: ${c}`);
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

// IP and CIDR matching for access lists, relay networks and trusted proxies (IPv4, IPv6, and IPv4-mapped IPv6).
import net from 'node:net';
import { formatIpv6, ipv6Groups, mappedIpv4 } from './ipv6-text.ts';

/**
 * The one text of an address, so that lists, counters, blocklist names and the log see every spelling of it alike: an
 * IPv4-mapped IPv6 address in any form (`::ffff:192.0.2.1`, the hex `::ffff:c000:201` the URL parser and a PROXY
 * header may write, `0:0:0:0:0:ffff:…`) is the IPv4 address it is, so that lists written in IPv4 match it; any other
 * IPv6 address is in RFC 5952 form (`0:0:0:0:0:0:0:1` is `::1`). A link-local client's zone index (`fe80::1%eth0`) is
 * dropped: it names our interface, not the client, and no reverse or blocklist name can be built with it. What is not
 * an address comes back as it is (without a zone), for the caller to refuse.
 */
export function normalizeIp(raw: string): string {
  const ip = raw.replace(/%.*$/, '');
  if (!net.isIPv6(ip)) return ip;
  const groups = ipv6Groups(ip);
  return mappedIpv4(groups) ?? formatIpv6(groups);
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

// Client addresses for DNSBL lookups: normalising, reversing into a query name, and address-range tests.
import net from 'node:net';

/** Strips the IPv4-mapped prefix (`::ffff:192.0.2.1` → `192.0.2.1`) so a v4 client is looked up as v4. */
export function normalizeIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1] : ip;
}

/** The DNSBL label sequence of an address: reversed octets (v4) or reversed nibbles (v6); undefined if not an IP. */
export function reversedIp(ip: string): string | undefined {
  const kind = net.isIP(ip);
  if (kind === 4) return ip.split('.').reverse().join('.');
  if (kind !== 6) return undefined;
  const halves = ip.toLowerCase().split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  // An embedded IPv4 tail (`64:ff9b::192.0.2.1`) stands for two groups.
  const expand = (gs: string[]) => gs.flatMap((g) => (g.includes('.') ? v4Groups(g) : [g]));
  const head = expand(left);
  const tail = expand(right);
  const all = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  return all.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.');
}

function v4Groups(v4: string): string[] {
  const b = v4.split('.').map(Number);
  return [((b[0] << 8) | b[1]).toString(16), ((b[2] << 8) | b[3]).toString(16)];
}

/** A set of addresses and CIDR ranges, both families. */
export class IpSet {
  private readonly list = new net.BlockList();
  constructor(entries: string[]) {
    for (const e of entries) {
      const [addr, bits] = e.split('/');
      const family = net.isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(addr, family);
      else this.list.addSubnet(addr, Number(bits), family);
    }
  }
  has(ip: string): boolean {
    const kind = net.isIP(ip);
    return kind !== 0 && this.list.check(ip, kind === 6 ? 'ipv6' : 'ipv4');
  }
}

const PRIVATE = new IpSet(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', 'fc00::/7', 'fe80::/10']);

/** RFC 1918, link-local and unique-local addresses: no public list can know them. */
export function isPrivate(ip: string): boolean {
  return PRIVATE.has(ip);
}

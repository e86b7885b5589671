// Matching client addresses against the `local_ips` list of addresses and CIDRs.
import { parseClientIp, inPrefix, type ClientIp } from './lib/ip.ts';

interface Network { ip: ClientIp; prefix: number }

/** Compiles the list; throws on an entry that is not an address or CIDR, so a typo fails at start. */
export function compileIpList(entries: string[]): (ip: string) => boolean {
  const nets: Network[] = entries.map((e) => {
    const [addr, len] = e.trim().split('/');
    const ip = parseClientIp(addr);
    const max = ip?.family === 4 ? 32 : 128;
    const prefix = len === undefined ? max : Number(len);
    if (!ip || !Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`local_ips: not an address or CIDR: ${e}`);
    return { ip, prefix };
  });
  return (address) => {
    const c = parseClientIp(address);
    return !!c && nets.some((n) => n.ip.family === c.family && inPrefix(c.bytes, n.ip.bytes, n.prefix));
  };
}

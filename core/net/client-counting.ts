// What the gateway counts a client as, for the connection count per client, error blocks and AUTH failure bans: its
// network block under limits.ipv4_prefix / ipv6_prefix, read at each call so that a reload applies at once. Our own
// networks (relay.networks, access.allow_ips, server.trusted_proxies) are counted by their address alone: a stranger
// sharing their /64 must not get them blocked, and two proxies of one /64 must not share one count.
import { clientBlock, isNetworkBlock, type PrefixLengths } from './client-prefix.ts';

/** The part of the gateway's runtime the counting reads (the Runtime itself fits). */
export interface CountingSource {
  config: { limits: { ipv4_prefix: number; ipv6_prefix: number } };
  policy: { relay: Member; allow: Member; trustedProxies: Member };
}
interface Member { has(ip: string): boolean }

export class ClientCounting {
  private readonly source: () => CountingSource | undefined;

  /** `source` undefined (a unit without a gateway): the default lengths, no network of our own. */
  constructor(source: () => CountingSource | undefined) { this.source = source; }

  /** The key `ip` is counted under. */
  keyOf(ip: string): string {
    const src = this.source();
    if (!src) return clientBlock(ip, DEFAULT_PREFIXES);
    const p = src.policy;
    if (p.relay.has(ip) || p.allow.has(ip) || p.trustedProxies.has(ip)) return clientBlock(ip, WHOLE_ADDRESS);
    return clientBlock(ip, { v4: src.config.limits.ipv4_prefix, v6: src.config.limits.ipv6_prefix });
  }

  /** A log line's field naming the network `ip` is counted as, when that is more than the address. */
  logField(ip: string): { network?: string } {
    const key = this.keyOf(ip);
    return isNetworkBlock(key) ? { network: key } : {};
  }
}

/**
 * limits.ipv4_prefix and ipv6_prefix by default. IPv4 per address, as Postfix counts: one address is often a whole
 * office or a carrier's NAT, and its neighbours are other customers. IPv6 per /64: the smallest block a network is
 * given (SLAAC needs it), and one host may use any address of it; Postfix's /84 leaves such a host 2^20 fresh counters.
 */
export const DEFAULT_PREFIXES: PrefixLengths = { v4: 32, v6: 64 };
const WHOLE_ADDRESS: PrefixLengths = { v4: 32, v6: 128 };

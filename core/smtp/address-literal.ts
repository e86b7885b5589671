// Recipients at an address literal of this host (`postmaster@[192.0.2.1]`, `postmaster@[IPv6:::1]`). RFC 1123
// §5.2.17 has a server recognize a literal of any of its own addresses as naming itself, and RFC 5321 §4.5.1 has it
// take mail for postmaster; Postfix takes `user@[ip]` as local for each address it listens on. The gateway is no final
// destination: the server behind takes mail for the names in `domains`, never for the gateway's addresses. So
// postmaster there is the postmaster the domainless `RCPT TO:<postmaster>` reaches (the first domain's), and any other
// mailbox at the literal is refused as unknown rather than guessed into a domain the client never named.
import net from 'node:net';
import os from 'node:os';
import { normalizeIp } from '../net/cidr.ts';

/**
 * The address an address literal names, in the one form the gateway writes addresses in (`::1`, and an IPv4-mapped
 * address as the IPv4 one), or undefined when `domain` is a name or a malformed literal. IPv6 needs its `IPv6:` tag
 * (RFC 5321 §4.1.3), in any case; an IPv4 address must not have it.
 */
export function literalAddress(domain: string): string | undefined {
  const m = /^\[(ipv6:)?([^\]]*)\]$/i.exec(domain);
  if (!m) return undefined;
  const ok = m[1] ? net.isIPv6(m[2]) : net.isIPv4(m[2]);
  return ok ? normalizeIp(m[2]) : undefined;
}

/** Whether `ip` (normalized) is this host's: the address the client's connection arrived on, or one of an interface. */
export function isOwnAddress(ip: string, arrivedOn: string): boolean {
  if (ip === normalizeIp(arrivedOn)) return true;
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => normalizeIp(i.address) === ip));
}

/**
 * The local part of `address` when its domain is an address literal of this host (see isOwnAddress), else undefined.
 * `postmaster` in any case is the only one the gateway takes there (isPostmaster).
 */
export function mailboxAtOwnLiteral(address: string, arrivedOn: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0) return undefined;
  const ip = literalAddress(address.slice(at + 1));
  return ip !== undefined && isOwnAddress(ip, arrivedOn) ? address.slice(0, at) : undefined;
}

/** Whether a local part (or a domainless path) is postmaster, which RFC 5321 §4.5.1 has matched in any case. */
export function isPostmaster(local: string): boolean {
  return /^postmaster$/i.test(local);
}

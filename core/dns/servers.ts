// Parses `dns.servers` entries (`ip`, `ip:port`, `[v6]:port`, bare v6) and falls back to the system resolvers.
import net from 'node:net';
import { getServers } from 'node:dns';

export interface ServerAddress { host: string; port: number; family: 4 | 6 }

export function parseServer(entry: string): ServerAddress {
  const e = entry.trim();
  let host = e;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(e);
  if (bracket) { host = bracket[1]; port = bracket[2] ? Number(bracket[2]) : 53; }
  else if (/^[^:]+:\d+$/.test(e)) { const i = e.lastIndexOf(':'); host = e.slice(0, i); port = Number(e.slice(i + 1)); }
  const family = net.isIP(host);
  // A resolver given by name would need a resolver to find it.
  if (family === 0) throw new Error(`dns.servers: ${JSON.stringify(entry)} is not an IP address (optionally with :port)`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`dns.servers: bad port in ${JSON.stringify(entry)}`);
  // Written as the system writes addresses (`2001:DB8::53` → `2001:db8::53`): answers are matched to their server by it.
  if (family === 6) host = new net.SocketAddress({ address: host, family: 'ipv6' }).address;
  return { host, port, family: family as 4 | 6 };
}

/** The configured servers, or the system's (from /etc/resolv.conf) when none are configured. */
export function serverList(entries: string[]): ServerAddress[] {
  const list = entries.length ? entries : getServers();
  if (!list.length) throw new Error('dns.servers is empty and the system has no resolver configured');
  return list.map(parseServer);
}

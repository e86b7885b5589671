// Who a request really comes from when a reverse proxy (nginx, HAProxy) stands in front of the listener and terminates
// TLS there: X-Forwarded-For and X-Forwarded-Proto, believed only from the proxies http.trusted_proxies names. Anyone
// else can write those headers, and a forged one would open allow_from or the HTTPS-only quarantine pages.
import net from 'node:net';
import { normalizeIp } from '../net/cidr.ts';

/** Where a request comes from, as the routes and the access log are told. */
export interface RequestOrigin {
  /** The client's address; `unknown` when a trusted proxy named one that is not an address (no allow list has it). */
  client: string;
  /** Whether the client's own connection is encrypted (TLS to us, or to the trusted proxy that forwarded it). */
  tls: boolean;
  /** The socket's peer, set only when it is a trusted proxy whose headers were used. */
  proxy?: string;
}

/** An address as it stands in X-Forwarded-For: bare, `a.b.c.d:port`, or `[v6]` with or without a port. */
function addressOf(item: string): string | undefined {
  let a = item.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1];
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  a = normalizeIp(a);
  return net.isIP(a) ? a : undefined;
}

/** The values of a header that may be sent more than once (node joins repeated ones with ", "). */
const listOf = (value: string | string[] | undefined): string[] =>
  (Array.isArray(value) ? value.join(',') : value ?? '').split(',').map((v) => v.trim()).filter(Boolean);

/**
 * The request's origin. From a peer that is not a trusted proxy: the socket's address and TLS, whatever the headers
 * say. From a trusted proxy: the right-most X-Forwarded-For address that is not itself a trusted proxy (each proxy
 * appends the address it saw, so only that end of the list was written by a proxy we trust; nginx's
 * real_ip_recursive), and TLS when X-Forwarded-Proto says https (every value, when proxies in a chain each added one).
 */
export function requestOrigin(
  peer: string, socketTls: boolean,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  trusted: (ip: string) => boolean,
): RequestOrigin {
  const socketPeer = normalizeIp(peer);
  if (!trusted(socketPeer)) return { client: socketPeer, tls: socketTls };
  let client = socketPeer;
  const forwarded = listOf(headers['x-forwarded-for']);
  for (let i = forwarded.length - 1; i >= 0; i--) {
    const a = addressOf(forwarded[i]);
    // Written by a proxy we trust, yet not an address (`unknown`, an obfuscated name): nobody we could allow.
    if (a === undefined) { client = 'unknown'; break; }
    client = a;
    if (!trusted(a)) break;
  }
  const protos = listOf(headers['x-forwarded-proto']).map((p) => p.toLowerCase());
  const tls = protos.length ? protos.every((p) => p === 'https') : socketTls;
  return { client, tls, proxy: socketPeer };
}

// The `http:` block made into a running listener: its addresses, its certificate, allow_from and trusted_proxies read
// per request, and its connection bounds read per connection.
import { CidrList } from '../net/cidr.ts';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import type { Logger } from '../log/types.ts';
import { startHttpListener, type HttpListener, type ListenerTls } from './server.ts';
import type { ConnectionLimit } from './connection-gate.ts';
import { adminRoutes, type AdminState } from './admin-routes.ts';

export interface AdminHttpOptions {
  /** The running config's `http` block; a reload's allow_from applies to the next request. */
  config(): GatewayConfig['http'];
  /** The SMTP listeners' certificate and key, used when http.tls is set. */
  tls: ListenerTls;
  log: Logger;
  state: AdminState;
  /** Told of each connection refused by http.max_connections or max_connections_per_ip (the metric). */
  connectionRefused?(limit: ConnectionLimit): void;
}

/** A membership test of the list `read` gives now, compiled again only when a reload gave a new list. */
function liveCidrs(read: () => readonly string[]): (ip: string) => boolean {
  let compiledFrom = read();
  let list = new CidrList(compiledFrom);
  return (ip) => {
    const now = read();
    if (now !== compiledFrom) { list = new CidrList(now); compiledFrom = now; }
    return list.has(ip);
  };
}

/** Starts the admin listener, or resolves undefined when http.listen is empty. */
export async function startAdminHttp(opts: AdminHttpOptions): Promise<HttpListener | undefined> {
  const cfg = opts.config();
  if (!cfg.listen.length) return undefined;
  return startHttpListener({
    listen: cfg.listen,
    tls: cfg.tls ? opts.tls : undefined,
    allowed: liveCidrs(() => opts.config().allow_from),
    trustedProxy: liveCidrs(() => opts.config().trusted_proxies),
    log: opts.log,
    routes: adminRoutes(opts.state),
    connectionLimits: () => { const c = opts.config(); return { max: c.max_connections, perIp: c.max_connections_per_ip }; },
    connectionRefused: opts.connectionRefused,
  });
}

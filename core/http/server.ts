// A small HTTP(S) listener on node:http: a table of exact-path routes, an address check for admin routes, bounded
// request time and size, bounded connections (connection-gate.ts), HEAD, and 404/405/403/413 answers. The routes
// themselves live elsewhere (admin-routes.ts).
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { splitHostPort } from '../net/host-port.ts';
import type { Logger } from '../log/types.ts';
import type { HttpRequest, HttpResponse, Route } from './types.ts';
import { requestOrigin, type RequestOrigin } from './forwarded.ts';
import { secureContextOptions, type TlsProtocols } from '../smtp/tls-protocols.ts';
import { ConnectionGate, type ConnectionLimit, type ConnectionLimits } from './connection-gate.ts';

/** The certificate and key HTTPS serves, with the SMTP listeners' TLS versions and ciphers when it shares their context. */
export type ListenerTls = { key: Buffer; cert: Buffer } & Partial<TlsProtocols>;

/** Largest request body read (a POST with a declared length); larger ones get 413 without being read. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Time a client has to send a whole request (headers and body), and to stay idle on a connection before it is
 * closed: a scrape or a health check takes milliseconds, so a slow or silent client is only holding a socket.
 */
const REQUEST_TIMEOUT_MS = 10_000;

/** How long a stop waits for requests under way before it closes their connections. */
const CLOSE_GRACE_MS = 1000;

export interface HttpListenerOptions {
  /** host:port entries (IPv6 as [::1]:8080); port 0 takes a free port. */
  listen: readonly string[];
  /** Serve HTTPS with this certificate and key. */
  tls?: ListenerTls;
  /** Whether a client address may use the routes that are not public; asked per request, so a reload applies at once. */
  allowed(ip: string): boolean;
  /**
   * Whether a peer is a reverse proxy whose X-Forwarded-For and X-Forwarded-Proto are believed (see forwarded.ts);
   * asked per request. None when absent.
   */
  trustedProxy?(ip: string): boolean;
  /** Gets the `listening` lines, as the SMTP listeners log theirs. */
  log: Logger;
  routes?: readonly Route[];
  /** Bounds on the connections open at once (connection-gate.ts), read at each connection; none when absent. */
  connectionLimits?(): ConnectionLimits;
  /** Told of each connection refused by those bounds (the metric). */
  connectionRefused?(limit: ConnectionLimit): void;
  /** Tests shorten them. */
  requestTimeoutMs?: number;
  floodLogWindowMs?: number;
}

export interface BoundHttp { kind: 'http' | 'https'; host: string; port: number }

export interface HttpListener {
  readonly addresses: readonly BoundHttp[];
  /** Adds a route; a second route for the same method and path is an error. */
  addRoute(route: Route): void;
  /** A new certificate for connections after this call (an HTTPS listener only). */
  setTls(tls: ListenerTls): void;
  close(): Promise<void>;
}

/** Path and query of the request target; an absolute form (`GET http://host/metrics`) gives its path too. */
function splitTarget(target: string): { path: string; query: URLSearchParams } {
  let rest = target;
  if (/^https?:\/\//i.test(rest)) {
    try { const u = new URL(rest); rest = u.pathname + u.search; } catch { /* kept as sent: it matches no route */ }
  }
  const q = rest.indexOf('?');
  return q < 0 ? { path: rest, query: new URLSearchParams() } : { path: rest.slice(0, q), query: new URLSearchParams(rest.slice(q + 1)) };
}

const text = (status: number, body: string, headers: Record<string, string> = {}): HttpResponse =>
  ({ status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body: `${body}\n` });

/**
 * A request body that stopped arriving: the client hung up, or node's request timeout ended it (node has then answered
 * 408 itself, when the socket could still carry it). The client's doing, never ours: logged as a request, not an error.
 */
class BodyNotReceived extends Error {
  readonly timedOut: boolean;
  constructor(timedOut: boolean) {
    super(timedOut ? 'request timed out' : 'client went away');
    this.timedOut = timedOut;
  }
}

/** Sockets whose request body is being read: the idle timer leaves them to node's request timeout, which answers 408. */
const readingBody = new WeakSet<Socket>();

/** Reads a declared-length body; the parser ends the stream at that length, and the request timeout bounds the wait. */
async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  readingBody.add(req.socket);
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    // The stream's own error is always "aborted"; the socket's says whether node's request timeout was the cause.
    throw new BodyNotReceived((req.socket.errored as NodeJS.ErrnoException | null)?.code === 'ERR_HTTP_REQUEST_TIMEOUT');
  } finally {
    readingBody.delete(req.socket);
  }
  return Buffer.concat(chunks);
}

/**
 * HSTS for responses sent over our own TLS: a year, the usual value. Not includeSubDomains: the gateway does not own
 * the domain's other hosts, and would force HTTPS on every one of them (an intranet site on plain HTTP, say).
 */
const HSTS = 'max-age=31536000';

/** Path segments at least this long, or holding characters no route name uses, may be a ticket or a token. */
const TOKEN_LIKE = /^.{17,}$|[^a-z0-9._-]/i;

/**
 * A path no route knows, as the log shows it: its first segment only (`/quarantine/…`), itself masked (`/*`) when
 * it may be a ticket or a token, so that a quarantine link or a key pasted into a URL does not land in the log.
 */
export function unknownPathForLog(path: string): string {
  const [first = '', ...rest] = path.replace(/^\//, '').split('/');
  const shown = TOKEN_LIKE.test(first) ? '*' : first;
  return `/${shown}${rest.length ? '/…' : ''}`;
}

export async function startHttpListener(opts: HttpListenerOptions): Promise<HttpListener> {
  const routes = new Map<string, Map<string, Route>>();
  const addRoute = (route: Route) => {
    const byMethod = routes.get(route.path) ?? new Map<string, Route>();
    if (byMethod.has(route.method)) throw new Error(`a route for ${route.method} ${route.path} is already there`);
    byMethod.set(route.method, route);
    routes.set(route.path, byMethod);
  };
  for (const r of opts.routes ?? []) addRoute(r);
  const access = opts.log.child({ component: 'http' });
  const timeout = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const trusted = opts.trustedProxy ?? (() => false);
  // One count for every address the listener is on: the file descriptors they use are the process's.
  const gate = opts.connectionLimits ? new ConnectionGate({
    limits: opts.connectionLimits, exempt: (ip) => trusted(ip) || opts.allowed(ip), refused: opts.connectionRefused,
    log: access, logWindowMs: opts.floodLogWindowMs,
  }) : undefined;

  /** The answer to one request; `close` when its connection must not carry another (a body left unread). */
  const answer = async (req: http.IncomingMessage, { client, tls }: RequestOrigin): Promise<HttpResponse & { close?: boolean; refused?: string }> => {
    const method = req.method ?? 'GET';
    const { path, query } = splitTarget(req.url ?? '/');
    const byMethod = routes.get(path);
    const route = byMethod?.get(method === 'HEAD' ? 'GET' : method);
    const declared = req.headers['content-length'];
    const hasBody = (declared !== undefined && declared !== '0') || req.headers['transfer-encoding'] !== undefined;
    // Checked before anything else is told: a client outside allow_from learns nothing of the routes there are.
    if (!route?.public && !opts.allowed(client)) return { ...text(403, 'Forbidden'), close: hasBody, refused: 'not in http.allow_from' };
    if (!byMethod) return { ...text(404, 'Not Found'), close: hasBody };
    if (!route) {
      const allow = [...byMethod.keys()];
      if (allow.includes('GET')) allow.push('HEAD');
      return { ...text(405, 'Method Not Allowed', { allow: allow.join(', ') }), close: hasBody };
    }
    let body: Buffer = Buffer.alloc(0);
    if (method === 'POST' && hasBody) {
      if (declared === undefined) return { ...text(411, 'Length Required'), close: true };
      if (Number(declared) > MAX_BODY_BYTES) return { ...text(413, `Content Too Large (at most ${MAX_BODY_BYTES} bytes)`), close: true };
      body = await readBody(req);
    }
    const request: HttpRequest = { method, path, query, body, remoteAddress: client, tls, headers: req.headers };
    return { ...(await route.handle(request)), close: hasBody && method !== 'POST' };
  };

  /** Sends `a`; false when node refuses its status or headers (out of range, a line break in a value). */
  const send = (req: http.IncomingMessage, res: http.ServerResponse, a: HttpResponse & { close?: boolean }, secure: boolean): boolean => {
    const body = typeof a.body === 'string' ? Buffer.from(a.body) : a.body;
    // Only over this listener's TLS: a browser ignores HSTS sent in clear anyway, and a reverse proxy that terminates
    // TLS sets its own policy for its host name (nginx's add_header), which ours must not contradict.
    const headers: Record<string, string | number> = { 'cache-control': 'no-store', ...(secure ? { 'strict-transport-security': HSTS } : {}),
      ...a.headers, 'content-length': body.length };
    if (a.close) headers.connection = 'close';
    try { res.writeHead(a.status, headers); } catch { return false; }
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };

  const serve = (secure: boolean) => async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = performance.now();
    const origin = requestOrigin(req.socket.remoteAddress ?? '', secure, req.headers, trusted);
    // The path only: a query may carry a ticket or a token, which the log must not keep; nor may a path no route
    // knows, which is where a ticket pasted into the wrong place ends up.
    const target = splitTarget(req.url ?? '/').path;
    const path = routes.has(target) ? target.slice(0, 200) : unknownPathForLog(target);
    const failed = (what: string, e: unknown) => {
      access.error(what, { method: req.method, path, error: String((e as Error)?.message ?? e) });
      return text(500, 'Internal Server Error');
    };
    const ms = () => Math.round((performance.now() - started) * 10) / 10;
    const who = { method: req.method, path, client: origin.client, ...(origin.proxy ? { proxy: origin.proxy } : {}) };
    let a: HttpResponse & { close?: boolean; refused?: string };
    try { a = await answer(req, origin); } catch (e) {
      if (e instanceof BodyNotReceived) {
        // Info, not error: anyone can hang up or stall, and error lines are what alerts watch.
        access.info('http request not received whole', { ...who, ...(e.timedOut ? { status: 408 } : {}), reason: e.message, ms: ms() });
        return;
      }
      a = failed('http route failed', e);
    }
    if (res.destroyed) {
      access.info('http request not answered', { ...who, status: a.status, reason: 'connection closed before the answer', ms: ms() });
      return;
    }
    if (!send(req, res, a, secure)) {
      a = failed('http route answer cannot be sent', new Error(`status ${a.status} or its headers are not valid HTTP`));
      send(req, res, a, secure);
    }
    // A refusal at info, one line per request as nginx logs a denied one: the admin who forgot a Prometheus server in
    // allow_from sees why its scrapes fail without turning on debug.
    if (a.refused) access.info('http request', { ...who, status: a.status, reason: a.refused, ms: ms() });
    else access.debug('http request', { ...who, status: a.status, ms: ms() });
  };

  const serverOptions: http.ServerOptions = {
    requestTimeout: timeout, headersTimeout: timeout, keepAliveTimeout: Math.min(5000, timeout),
    // Node checks the two timeouts above only this often (30 s by default).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeout / 4))),
  };
  const servers: Array<http.Server | https.Server> = [];
  const addresses: BoundHttp[] = [];
  const closeAll = async () => {
    gate?.close();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
      const force = setTimeout(() => s.closeAllConnections(), CLOSE_GRACE_MS);
      s.close(() => { clearTimeout(force); resolve(); });
      s.closeIdleConnections();
    })));
  };
  try {
    for (const hp of opts.listen) {
      const kind = opts.tls ? 'https' : 'http';
      const server = opts.tls
        ? https.createServer({ ...serverOptions, ...secureContextOptions(opts.tls), handshakeTimeout: timeout }, serve(true))
        : http.createServer(serverOptions, serve(false));
      // A client silent from the start (no request, no handshake) is dropped as well.
      // One reading a body is left to node's request timeout, which fires as soon (within connectionsCheckingInterval)
      // and answers 408 first, so the client and the log learn why.
      server.setTimeout(timeout, (socket: Socket) => { if (!readingBody.has(socket)) socket.destroy(); });
      // First of the connection's listeners, so a refused one is closed before TLS or HTTP is set up on it. Closed, not
      // answered: a 503 would wait to be read, and a client that reads nothing would keep the descriptor all the same.
      if (gate) server.prependListener('connection', (socket: Socket) => { if (!gate.admit(socket)) socket.destroy(); });
      const { host, port } = splitHostPort(hp);
      await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(new Error(`cannot listen on ${hp} (${kind}): ${e.message}`));
        server.once('error', onErr);
        server.listen(port, host, () => { server.removeListener('error', onErr); resolve(); });
      });
      servers.push(server);
      server.on('error', (e) => access.error('listener error', { listener: kind, error: String(e.message) }));
      const bound = { kind, host, port: (server.address() as { port: number }).port } as const;
      addresses.push(bound);
      opts.log.info('listening', { listener: bound.kind, host, port: bound.port });
    }
  } catch (e) {
    // Not left half-listening: a start that failed on one address must not leave the others open.
    await closeAll();
    throw e;
  }
  return {
    addresses,
    addRoute,
    setTls(tls) { for (const s of servers) if (s instanceof https.Server) s.setSecureContext(secureContextOptions(tls)); },
    close: closeAll,
  };
}

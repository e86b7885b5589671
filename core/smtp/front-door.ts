// The listeners: plain SMTP with STARTTLS, implicit TLS, and submission (AUTH required), all on smtp-server.
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { Runtime } from '../runtime.ts';
import type { ListenerKind } from '../hooks/context.ts';
import { SessionHandler } from './session-handler.ts';
import { applySmtpServerPatches, rearmIdle, trustProxyHeadersFrom, type IdleTimeouts, type RawConnection } from './patches.ts';
import { applyReplyBatching } from './reply-batching.ts';
import { applyFastDataScan } from './data-scan.ts';
import { applyCommandRules } from './command-rules.ts';
import { applyLineTooLong } from './line-too-long.ts';
import { applyErrorLimitClose } from './limits-errors-close.ts';
import type { TlsMaterial } from './tls.ts';
import { secureContextOptions } from './tls-protocols.ts';
import { normalizeIp } from '../net/cidr.ts';
import { splitHostPort } from '../net/host-port.ts';
import type { Socket } from 'node:net';
import { connectionCaps } from './connection-limits.ts';
import { countMessageHandlers, endSessionsForStop, type StopLimits } from './session-shutdown.ts';
import { handshakeTimeoutOf, idleTimeoutOf, type StressChange, type StressMode } from './stress-mode.ts';

export interface BoundListener { kind: ListenerKind; host: string; port: number; server: SMTPServer }

/** The runtime each listener serves (the latest a reload gave it), for the lines its stop writes. */
const runtimes = new WeakMap<SMTPServer, Runtime>();
/** What each listener stops following when it stops: the changes of stress. */
const unwatch = new WeakMap<SMTPServer, () => void>();

/** The options a reload may change on a running listener; smtp-server reads them per connection. */
function reloadableOptions(rt: Runtime, kind: ListenerKind) {
  const cfg = rt.config;
  const proxied = cfg.server.trusted_proxies.length > 0;
  return {
    banner: cfg.server.banner,
    size: cfg.limits.max_message_size,
    socketTimeout: cfg.server.idle_timeout,
    useXClient: proxied,
    useProxy: kind !== 'smtps' && cfg.server.proxy_protocol && proxied ? ['*'] : false,
    // server.auth_on_listen: false hides AUTH from EHLO on `listen`; the session handler answers the command itself.
    disabledCommands: kind === 'smtp' && !cfg.server.auth_on_listen ? ['AUTH'] : [],
  };
}

function serverOptions(rt: Runtime, kind: ListenerKind, tls: TlsMaterial, handler: SessionHandler): SMTPServerOptions {
  return {
    ...reloadableOptions(rt, kind),
    name: rt.hostname,
    secure: kind === 'smtps',
    // The configured versions and ciphers replace smtp-server's defaults (down to TLS 1.0) on every listener.
    ...secureContextOptions(tls),
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: kind !== 'submission',
    allowInsecureAuth: false,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    // RFC 8689 asks for verified TLS on every later hop of the message; the relay's TLS is each route's policy
    // (starttls), not the message's. Not offered, so its parameter is refused as any other not offered (envelope-params.ts).
    hideREQUIRETLS: true,
    disableReverseLookup: true,
    closeTimeout: 10_000,
    // A client may shut down its sending side right after its final dot or QUIT (`nc -N`, scripts). Without this
    // Node ends our side at its FIN, the 250 for a message already queued is never written, and the client sends
    // it again. The connection is closed once every command it sent has been answered, and TLS sessions keep Node's
    // own handling of a close (patches.ts).
    allowHalfOpen: kind !== 'smtps',
    maxAllowedUnauthenticatedCommands: kind === 'submission' ? 20 : false,
    logger: false,
    onConnect: handler.onConnect,
    onClose: handler.onClose,
    onSecure: handler.onSecure,
    onAuth: handler.onAuth,
    onMailFrom: handler.onMailFrom,
    onRcptTo: handler.onRcptTo,
    onData: handler.onData,
  } as SMTPServerOptions;
}

/** Starts every configured listener; resolves with their bound addresses (port 0 gets a free port). */
export async function startListeners(rt: Runtime, tls: TlsMaterial): Promise<BoundListener[]> {
  // Under the patches: a plugin's rset hook still answers first, the RFC's refusal stands in for smtp-server's reply.
  applyCommandRules();
  applySmtpServerPatches();
  // Over the patches: an overlong line is answered before any of their checks reads it as a command.
  applyLineTooLong();
  applyReplyBatching();
  // Over every reply: the one that reaches limits.max_errors is followed by the 421, whoever counted it.
  applyErrorLimitClose();
  applyFastDataScan();
  const plan: Array<[ListenerKind, string]> = [
    ...rt.config.server.listen.map((x) => ['smtp', x] as [ListenerKind, string]),
    ...rt.config.server.tls_listen.map((x) => ['smtps', x] as [ListenerKind, string]),
    ...rt.config.server.submission_listen.map((x) => ['submission', x] as [ListenerKind, string]),
  ];
  const bound: BoundListener[] = [];
  try {
    for (const [kind, hp] of plan) {
      const handler = new SessionHandler(rt, kind);
      const server = new SMTPServer(serverOptions(rt, kind, tls, handler));
      // Counted, so that a stop waits for every message's reply to be decided before the queue closes.
      server.onData = countMessageHandlers(server, server.onData.bind(server));
      runtimes.set(server, rt);
      (server as unknown as { _mailmoat: SessionHandler })._mailmoat = handler;
      (server as unknown as { _mailmoatIdle: IdleTimeouts })._mailmoatIdle = idleTimeouts(rt);
      followStress(rt, server);
      // Asked of each new connection, so a reload turns server.proxy_protocol on or off for connections after it.
      trustProxyHeadersFrom(server, rt, kind);
      const { host, port } = splitHostPort(hp);
      await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(new Error(`cannot listen on ${hp} (${kind}): ${e.message}`));
        server.once('error', onErr);
        server.listen(port, host, () => { server.removeListener('error', onErr); resolve(); });
      });
      if (kind === 'smtps') countBeforeHandshake(server, rt);
      server.on('error', (err: ListenerError) => logListenerError(rt, kind, err));
      const addr = (server as unknown as { server: { address(): { port: number } } }).server.address();
      bound.push({ kind, host, port: addr.port, server });
      rt.log.info('listening', { listener: kind, host, port: addr.port });
    }
  } catch (e) {
    // A gateway that cannot open every listener must not stay half-started, taking mail on the ones it did open.
    await stopListeners(bound);
    throw e;
  }
  return bound;
}

type ListenerError = Error & { remoteAddress?: string; code?: string; report?: boolean; meta?: { remoteAddress?: string }; cid?: string };

/** Errors already logged: a failed STARTTLS handshake reports the same error twice (as a TLS error and a socket error). */
const logged = new WeakSet<Error>();

function logListenerError(rt: Runtime, kind: ListenerKind, err: ListenerError): void {
  if (logged.has(err)) return;
  logged.add(err);
  // A failed implicit-TLS handshake names its client only in `meta`. It is the client's problem, not the listener's:
  // logged as an error, anyone could fill the error log (and page whoever watches it) by sending junk to the port.
  const client = err.remoteAddress ?? err.meta?.remoteAddress;
  if (!client) { rt.log.error('listener error', { listener: kind, error: String(err.message) }); return; }
  const fields = { listener: kind, client, code: err.code, error: String(err.message).trim().slice(0, 300) };
  // Under the session's cid when it had one (a failed STARTTLS; patches.ts names it), so its lines read as one story.
  const log = err.cid ? rt.log.child({ cid: err.cid }) : rt.log;
  // A client that connected and left without a word (a port probe, a health check) is no error at all.
  if (err.report === false) log.debug('client connection error', fields);
  else log.warn('client connection error', fields);
}

/**
 * smtp-server shakes hands on an implicit-TLS listener before the session exists, so limits.max_connections and
 * max_connections_per_ip (counted in the session's onConnect) did not cover a client that connects and never finishes
 * its handshake: one address could hold any number of sockets until the idle timeout, and a blocked address
 * (limits.error_block) still got a handshake. Here such a socket is counted from its accept, as a connection to the
 * plain port is, refused at once when over the limit, and handed over to the session's own count when the handshake ends.
 */
function countBeforeHandshake(server: SMTPServer, rt: Runtime): void {
  const inner = server as unknown as { server: { listeners(e: string): Array<(s: Socket) => void>; removeAllListeners(e: string): void; on(e: string, f: (s: Socket) => void): void }; _upgrade(socket: Socket, cb: (...a: unknown[]) => void): void; _pendingSockets: Map<Socket, Socket> };
  const releases = new WeakMap<Socket, () => void>();
  const accept = inner.server.listeners('connection');
  inner.server.removeAllListeners('connection');
  inner.server.on('connection', (socket) => {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    // A client already over limits.connection_rate would be refused right after the handshake: it gets none. Not
    // counted here, as the session's onConnect counts the connections that reach it.
    const tooFast = rt.connections.rates.connectionsOver(rt, ip);
    if (tooFast) rt.connections.refusalLog.refused(rt.log, ip, rt.connections.rateRefusal(ip, tooFast), { listener: 'smtps', before: 'TLS handshake' });
    const overLimit = tooFast ? undefined : rt.connections.tryOpen(ip, connectionCaps(rt, ip));
    if (overLimit) rt.connections.refusalLog.refused(rt.log, ip, overLimit, { listener: 'smtps', before: 'TLS handshake' });
    if (tooFast || overLimit) {
      // Nothing can be said before the handshake (a 421 in plaintext is noise to a TLS client): the socket is dropped.
      rt.metrics.inc('connections_refused');
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    let counted = true;
    const release = () => { if (counted) { counted = false; rt.connections.close(ip); } };
    releases.set(socket, release);
    socket.once('close', release);
    for (const f of accept) f(socket);
  });
  const upgrade = inner._upgrade;
  inner._upgrade = function (socket, cb) {
    // Released before the session starts, whose onConnect counts the same client again.
    const r = upgrade.call(this, socket, (...a: unknown[]) => { releases.get(socket)?.(); cb(...a); });
    // Under stress a handshake gets the idle time of stress: a socket that never shakes hands is an idle connection.
    const handshake = this._pendingSockets.get(socket);
    const time = handshakeTimeoutOf(rt, normalizeIp(socket.remoteAddress ?? ''));
    if (handshake && handshake !== socket && time.stressed) handshake.setTimeout(time.ms);
    return r;
  };
}

/** What a reload changes on running listeners: the greeting, SIZE, the idle timeout, XCLIENT and PROXY, AUTH on `listen`, and the certificate. */
export function refreshListeners(listeners: BoundListener[], rt: Runtime, tls: TlsMaterial): void {
  for (const l of listeners) {
    runtimes.set(l.server, rt);
    Object.assign(l.server.options, reloadableOptions(rt, l.kind));
    l.server.updateSecureContext(secureContextOptions(tls));
  }
}

/**
 * Stops accepting and ends every session (session-shutdown.ts): one waiting for the client's next command gets 421
 * at once (RFC 5321 §3.8), as one does when its transaction ends; a message still coming in gets
 * STOP_DATA_GRACE_MS from the start of the stop, then 421 and is dropped; a message whose final dot arrived is
 * checked, queued and answered, within STOP_REPLY_LIMIT_MS.
 */
export async function stopListeners(listeners: BoundListener[], limits?: StopLimits): Promise<void> {
  for (const l of listeners) unwatch.get(l.server)?.();
  await endSessionsForStop(listeners.map((l) => ({
    server: l.server,
    listener: l.kind,
    // The logger of the latest reload, read when a line is written.
    log: () => runtimes.get(l.server)?.log,
  })), limits);
}

/** The idle time of each session of a listener: the runtime's, read at each arming so a reload applies. */
function idleTimeouts(rt: Runtime): IdleTimeouts {
  return {
    of: (c) => idleTimeoutOf(rt, { ip: normalizeIp(c.remoteAddress), loggedIn: !!c.session.user, inData: !!(c._parser as { _dataMode?: boolean } | undefined)?._dataMode }),
    cutShort: () => {
      rt.connections.stress.closedEarly();
      rt.metrics.inc('connections_closed_under_stress');
    },
  };
}

/** The gateways whose changes of stress are reported already: once, however many listeners each has. */
const reported = new WeakSet<StressMode>();

/**
 * When stress begins or ends, every session and TLS handshake of `server` waiting for its client gets the time it has
 * now from that moment, so the sessions already open are cut sooner too; and the gateway's gauge and line tell it.
 */
function followStress(rt: Runtime, server: SMTPServer): void {
  const stress = rt.connections.stress;
  if (!reported.has(stress)) {
    reported.add(stress);
    stress.watch((c: StressChange) => {
      rt.metrics.setStress(c.active);
      if (c.line) rt.log[c.line.level](c.line.msg, c.line.fields);
    });
  }
  const inner = server as unknown as { connections: Set<RawConnection>; _pendingSockets: Map<Socket, Socket> };
  unwatch.set(server, stress.watch(() => {
    for (const conn of inner.connections) rearmIdle(conn);
    for (const [raw, pending] of inner._pendingSockets) {
      if (!pending.destroyed) pending.setTimeout(handshakeTimeoutOf(rt, normalizeIp(raw.remoteAddress ?? '')).ms);
    }
  }));
}

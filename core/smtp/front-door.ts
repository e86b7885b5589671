// The listeners: plain SMTP with STARTTLS, implicit TLS, and submission (AUTH required), all on smtp-server.
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { Runtime } from '../runtime.ts';
import type { ListenerKind } from '../hooks/context.ts';
import { SessionHandler } from './session-handler.ts';
import { applySmtpServerPatches, trustProxyHeadersFrom } from './patches.ts';
import { applyReplyBatching } from './reply-batching.ts';
import { applyFastDataScan } from './data-scan.ts';
import type { TlsMaterial } from './tls.ts';

export interface BoundListener { kind: ListenerKind; host: string; port: number; server: SMTPServer }

function splitHostPort(hp: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(hp);
  if (!m) throw new Error(`not host:port: ${hp}`);
  return { host: m[1], port: Number(m[2]) };
}

function serverOptions(rt: Runtime, kind: ListenerKind, tls: TlsMaterial, handler: SessionHandler): SMTPServerOptions {
  const cfg = rt.config;
  return {
    name: rt.hostname,
    banner: cfg.server.banner,
    secure: kind === 'smtps',
    key: tls.key,
    cert: tls.cert,
    size: cfg.limits.max_message_size,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: kind !== 'submission',
    allowInsecureAuth: false,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: true,
    disableReverseLookup: true,
    useXClient: cfg.server.trusted_proxies.length > 0,
    useProxy: kind !== 'smtps' && cfg.server.proxy_protocol && cfg.server.trusted_proxies.length > 0 ? ['*'] : false,
    socketTimeout: cfg.server.idle_timeout,
    closeTimeout: 10_000,
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
  applySmtpServerPatches();
  applyReplyBatching();
  applyFastDataScan();
  const plan: Array<[ListenerKind, string]> = [
    ...rt.config.server.listen.map((x) => ['smtp', x] as [ListenerKind, string]),
    ...rt.config.server.tls_listen.map((x) => ['smtps', x] as [ListenerKind, string]),
    ...rt.config.server.submission_listen.map((x) => ['submission', x] as [ListenerKind, string]),
  ];
  const bound: BoundListener[] = [];
  for (const [kind, hp] of plan) {
    const handler = new SessionHandler(rt, kind);
    const server = new SMTPServer(serverOptions(rt, kind, tls, handler));
    (server as unknown as { _mailmoat: SessionHandler })._mailmoat = handler;
    trustProxyHeadersFrom(server, (ip) => rt.policy.trustedProxies.has(ip));
    if (!(rt.config.server.proxy_protocol)) trustProxyHeadersFrom(server, () => false);
    server.on('error', (err: Error & { remoteAddress?: string; code?: string }) => {
      // A client's own broken connection (a failed TLS handshake, a reset) is its problem, not the listener's.
      if (err.remoteAddress) rt.log.warn('client connection error', { listener: kind, client: err.remoteAddress, code: err.code, error: String(err.message).trim().slice(0, 300) });
      else rt.log.error('listener error', { listener: kind, error: String(err.message) });
    });
    const { host, port } = splitHostPort(hp);
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => reject(new Error(`cannot listen on ${hp}: ${e.message}`));
      server.once('error', onErr);
      server.listen(port, host, () => { server.removeListener('error', onErr); resolve(); });
    });
    const addr = (server as unknown as { server: { address(): { port: number } } }).server.address();
    bound.push({ kind, host, port: addr.port, server });
    rt.log.info('listening', { listener: kind, host, port: addr.port });
  }
  return bound;
}

export async function stopListeners(listeners: BoundListener[]): Promise<void> {
  await Promise.all(listeners.map((l) => new Promise<void>((r) => l.server.close(() => r()))));
}

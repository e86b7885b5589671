// Reads the PROXY header (v1 or v2: proxy-header.ts) a trusted proxy sends before the SMTP session, in place of
// smtp-server's own reader, which knew v1 only, took `proxy` in any case and a bare LF, and waited on an idle timer:
// one byte every few seconds kept a socket for as long as the peer liked, and a peer that sent nothing was closed
// with no line in the log. Here the header must be whole within server.proxy_timeout of the accept (a deadline, as
// Postfix's smtpd_upstream_proxy_timeout), every client address is given in the core's form (core/net/cidr.ts), and
// what is refused or runs out of time is logged, boundedly (proxy-header-log.ts).
import crypto from 'node:crypto';
import net, { type Socket } from 'node:net';
import type { Logger } from '../log/types.ts';
import { normalizeIp } from '../net/cidr.ts';
import { excerpt, readProxyHeader, type ProxyHeader } from './proxy-header.ts';
import { ProxyHeaderLog } from './proxy-header-log.ts';

/** What smtp-server's connection takes from its listener for a new socket. */
type SocketOptions = { id: string; remoteAddress?: string; remotePort?: number };
type Done = (err: Error | null, options?: SocketOptions) => void;

/** What a listener's header reading asks of the gateway, each time, so a reload applies to the next connection. */
export interface ProxySource {
  /** Whether a connection from `ip` must begin with a header. */
  expects(ip: string): boolean;
  /** Milliseconds from the accept to the header's last byte (server.proxy_timeout). */
  deadlineMs(): number;
  listener: string;
  log: Logger;
  /** A connection turned away: its header refused, or not whole in time. */
  turnedAway(): void;
}

/** How long the socket of a refused header stays open for its `* BAD` line to go out, as smtp-server leaves it. */
const REFUSAL_LINGER_MS = 1000;

/** How long a closed session's proxy is still known, for the lines its closing writes. */
const FORGET_AFTER_CLOSE_MS = 5000;

/** The proxy (the socket's peer) each session that began with a header came through, while its socket is open. */
const proxies = new Map<string, string>();

/** The trusted proxy whose PROXY header opened session `id`, or undefined for a session that had none. */
export function proxyOf(id: string): string | undefined {
  return proxies.get(id);
}

/** Replaces `server`'s (an SMTPServer's) PROXY header reading with this one. */
export function readProxyHeaders(server: object, source: ProxySource): void {
  const s = server as { _expectsProxyHeader(socket: Socket): boolean; _handleProxy(socket: Socket, done: Done): void };
  const lines = new ProxyHeaderLog();
  // smtp-server asks this too, to guard the socket until the session starts (its count of pending sockets).
  s._expectsProxyHeader = (socket) => source.expects(normalizeIp(socket.remoteAddress ?? ''));
  s._handleProxy = (socket, done) => {
    const options: SocketOptions = { id: sessionId() };
    const peer = normalizeIp(socket.remoteAddress ?? '');
    if (!s._expectsProxyHeader(socket)) {
      // In the core's form, which smtp-server's own normalising then leaves alone. A socket without an address has
      // gone already.
      if (net.isIP(peer)) options.remoteAddress = peer;
      setImmediate(() => done(null, options));
      return;
    }
    readHeader(socket, { peer, source, lines, options, done });
  };
}

interface Reading { peer: string; source: ProxySource; lines: ProxyHeaderLog; options: SocketOptions; done: Done }

function readHeader(socket: Socket, r: Reading): void {
  const { peer, source, options } = r;
  const chunks: Buffer[] = [];
  let size = 0;
  let need = 1;
  let finished = false;
  const deadlineMs = source.deadlineMs();

  const finish = (err: Error | null) => {
    if (finished) return;
    finished = true;
    clearTimeout(deadline);
    socket.removeListener('readable', onReadable);
    socket.removeListener('error', onGone);
    socket.removeListener('close', onGone);
    socket.removeListener('end', onGone);
    socket.removeListener('timeout', onTimeout);
    // A late error on a socket being closed (EPIPE while `* BAD` goes out) must not become an uncaught exception.
    if (err) socket.on('error', () => { /* closing */ });
    r.done(err, err ? undefined : options);
  };
  const event = (what: 'refused' | 'timed out', cause: string, fields: Record<string, unknown>) => {
    r.lines.event(source.log, what, { proxy: peer, listener: source.listener, cause }, fields);
    source.turnedAway();
  };
  const refuse = (reason: string, got: Buffer) => {
    event('refused', reason, { input: excerpt(got) });
    try { socket.end('* BAD Invalid PROXY header\r\n'); } catch { /* gone */ }
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    finish(new Error(`Invalid PROXY header: ${reason}`));
  };
  const expire = () => {
    if (finished) return;
    const got = Buffer.concat(chunks, size);
    event('timed out', size ? 'the header was not whole in time' : 'nothing was sent', { timeout_ms: deadlineMs, bytes: size, ...(size ? { input: excerpt(got) } : {}) });
    socket.destroy();
    finish(new Error('PROXY header timed out'));
  };
  const take = (header: ProxyHeader) => {
    const client = header.client ? normalizeIp(header.client.ip) : peer;
    if (net.isIP(client)) options.remoteAddress = client;
    if (header.client) options.remotePort = header.client.port;
    proxies.set(options.id, peer);
    // Kept a little past the close: smtp-server ends the session (its closing line names the proxy) an event later.
    socket.once('close', () => setTimeout(() => proxies.delete(options.id), FORGET_AFTER_CLOSE_MS).unref());
    finish(null);
  };
  const onReadable = () => {
    let chunk: Buffer | null;
    while (!finished && (chunk = socket.read() as Buffer | null) !== null) {
      chunks.push(chunk);
      size += chunk.length;
      // A v2 header's length is known from its 16th byte: the rest is awaited before it is looked at again.
      if (size < need) continue;
      const got = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      chunks.splice(0, chunks.length, got);
      const read = readProxyHeader(got);
      if (read.state === 'more') { need = read.need; continue; }
      if (read.state === 'bad') return refuse(read.reason, got);
      // What the client sent after the header is the session's.
      const rest = got.subarray(read.header.length);
      if (rest.length) socket.unshift(rest);
      return take(read.header);
    }
  };
  const onGone = (err?: unknown) => {
    // A proxy's plain TCP check connects and leaves: no refusal, but a debug line tells it from a silent hang.
    source.log.debug('PROXY header not received: connection closed', { proxy: peer, listener: source.listener, bytes: size, ...(err instanceof Error ? { error: err.message } : {}) });
    socket.destroy();
    finish(err instanceof Error ? err : new Error('Socket closed before PROXY header was received'));
  };
  // The socket's idle timer, which smtp-server armed, would let a trickle of bytes go on for ever: the deadline
  // replaces it. Stress may arm it again (front-door.ts), shorter: smtp-server then closes the socket, logged here.
  const onTimeout = () => expire();
  const deadline = setTimeout(expire, deadlineMs);
  deadline.unref();
  socket.setTimeout(0);
  socket.on('readable', onReadable);
  socket.on('error', onGone);
  socket.on('close', onGone);
  socket.on('end', onGone);
  socket.on('timeout', onTimeout);
}

/** A session id as smtp-server makes them: 80 random bits in 16 base-32 digits. */
function sessionId(): string {
  return BigInt(`0x${crypto.randomBytes(10).toString('hex')}`).toString(32).padStart(16, '0');
}

// What smtp-server lacks, added once on its connection class: connect/HELO/DATA-start hooks, CIDR-trusted proxies,
// a rejecting state after a refused connect, AUTH hidden before TLS, and our own enhanced status codes.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/** What a listener's adapter provides to the patched methods (stored on the SMTPServer as `_mailmoat`). */
export interface ConnectionHooks {
  isTrustedProxy(ip: string): boolean;
  /** Runs connect-time policy and hooks; returns the greeting decision. */
  onGreeting(conn: RawConnection): Promise<{ kind: 'greet' } | { kind: 'reject' | 'close'; code: number; text: string | string[] }>;
  onHelo(conn: RawConnection, hostname: string, verb: 'HELO' | 'EHLO'): Promise<{ code: number; text: string | string[]; close?: boolean } | undefined>;
  onDataStart(conn: RawConnection): Promise<{ code: number; text: string | string[]; close?: boolean } | undefined>;
  /** A reply for any command while the connection is in the rejecting state (undefined = not rejecting). */
  rejectingReply(conn: RawConnection, command: string): { code: number; text: string; close?: boolean } | undefined;
}

export interface RawConnection {
  id: string;
  remoteAddress: string;
  clientHostname: string;
  secure: boolean;
  session: { id: string; disabledCommands?: string[]; user?: unknown; secure: boolean };
  _server: { options: Record<string, unknown>; _mailmoat?: ConnectionHooks };
  _ready: boolean;
  _xClient: Map<string, unknown>;
  _originalRemoteAddress: string;
  send(code: number, data?: string | string[], context?: unknown): void;
  close(): void;
  _isSupported(cmd: string): boolean;
}

type Handler = (this: RawConnection, command: Buffer, callback: () => void) => void;

const ENHANCED = /^\d\.\d{1,3}\.\d{1,3} /;
let applied = false;

function hooksOf(conn: RawConnection): ConnectionHooks | undefined { return conn._server._mailmoat; }

export function applySmtpServerPatches(): void {
  if (applied) return;
  applied = true;
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;

  // Our replies carry their own enhanced status code; smtp-server must not add a second one.
  const origSend = proto.send as RawConnection['send'];
  proto.send = function (this: RawConnection, code: number, data?: string | string[], context?: unknown) {
    const first = Array.isArray(data) ? data[0] : data;
    if (typeof first === 'string' && ENHANCED.test(first)) context = false;
    return origSend.call(this, code, data, context);
  };

  // XCLIENT and XFORWARD from any address inside server.trusted_proxies (smtp-server only knows exact addresses).
  proto._proxyCommandAllowed = function (this: RawConnection, command: string) {
    const h = hooksOf(this);
    if (!h) return false;
    return !this._xClient.has('ADDR') && h.isTrustedProxy(this._originalRemoteAddress) && this._isSupported(command);
  };

  // Connect hooks run where the greeting is sent: at connect, and again after XCLIENT names the real client.
  const origGreeting = proto._sendGreeting as (this: RawConnection) => void;
  proto._sendGreeting = function (this: RawConnection) {
    const h = hooksOf(this);
    if (!h) return origGreeting.call(this);
    this._ready = false; // commands sent before the greeting are refused as early talk
    h.onGreeting(this).then((d) => {
      this._ready = true;
      if (d.kind === 'greet') return origGreeting.call(this);
      this.send(d.code, d.text, false);
      if (d.kind === 'close') this.close();
    }, () => { this.send(421, '4.3.0 Temporary local problem', false); this.close(); });
  };

  // Every command of a refused client gets the refusal, as Postfix does with a delayed reject.
  const origOnCommand = proto._onCommand as Handler;
  proto._onCommand = function (this: RawConnection, command: Buffer, callback: () => void) {
    const h = hooksOf(this);
    const name = (command || '').toString().split(' ')[0].toUpperCase();
    const r = h && this._ready ? h.rejectingReply(this, name) : undefined;
    if (r) {
      this.send(r.code, r.text);
      if (r.close) this.close();
      return setImmediate(() => callback?.());
    }
    return origOnCommand.call(this, command, callback);
  };

  const wrapHelo = (orig: Handler, hidesAuth: boolean, verb: 'HELO' | 'EHLO'): Handler => function (this: RawConnection, command: Buffer, callback: () => void) {
    const h = hooksOf(this);
    const parts = command.toString().trim().split(/\s+/);
    const callOrig = () => {
      if (hidesAuth && !this.secure) {
        // AUTH is offered only after TLS; a client that tries anyway gets smtp-server's 538.
        const disabled = (this._server.options.disabledCommands as string[] | undefined) ?? [];
        this.session.disabledCommands = [...disabled, 'AUTH'];
        try { orig.call(this, command, callback); } finally { this.session.disabledCommands = undefined; }
        return;
      }
      orig.call(this, command, callback);
    };
    if (!h || parts.length !== 2) return callOrig();
    h.onHelo(this, parts[1], verb).then((r) => {
      if (!r) return callOrig();
      this.send(r.code, r.text);
      if (r.close) this.close();
      callback();
    }, () => { this.send(451, '4.3.0 Temporary local problem'); callback(); });
  };
  proto.handler_EHLO = wrapHelo(proto.handler_EHLO as Handler, true, 'EHLO');
  proto.handler_HELO = wrapHelo(proto.handler_HELO as Handler, false, 'HELO');

  // DATA-start hooks run before the 354.
  const origData = proto.handler_DATA as Handler;
  proto.handler_DATA = function (this: RawConnection & { session: { envelope: { rcptTo: unknown[] } } }, command: Buffer, callback: () => void) {
    const h = hooksOf(this);
    if (!h || !this.session.envelope.rcptTo.length) return origData.call(this, command, callback);
    h.onDataStart(this).then((r) => {
      if (!r) return origData.call(this, command, callback);
      this.send(r.code, r.text);
      if (r.close) this.close();
      callback();
    }, () => { this.send(451, '4.3.0 Temporary local problem'); callback(); });
  };
}

/** Lets the PROXY protocol be accepted from CIDRs, not only exact addresses. */
export function trustProxyHeadersFrom(server: object, isTrusted: (ip: string) => boolean): void {
  (server as { _expectsProxyHeader: (s: { remoteAddress?: string }) => boolean })._expectsProxyHeader = (socket) => isTrusted(socket.remoteAddress ?? '');
}

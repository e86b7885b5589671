// What smtp-server lacks, added once on its connection class: connect/HELO/capabilities/DATA-start hooks, hooks for
// NOOP/VRFY/RSET/QUIT and unknown verbs, CIDR-trusted proxies (XCLIENT only, no XFORWARD; checked as the client when
// they name none), a rejecting state after a refused connect, AUTH hidden before TLS, a refusal of input sent before
// the reply it had to wait for (pipelining-guard.ts), our own enhanced status codes, its own refusals counted
// toward limits.max_errors (limits-own-refusals.ts), and an idle timeout per connection (shorter under stress:
// stress-mode.ts).
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SHUTTING_DOWN } from './session-shutdown.ts';
import type { Socket } from 'node:net';
import type { CommandHookName } from '../hooks/hook-names.ts';
import { earlyInput, PIPELINING_REFUSAL, trackUnreadInput, type PipeliningViolation } from './pipelining-guard.ts';
import { shieldQuotedSpaces } from './address-command.ts';
import { markDataTimeout } from './data-timeout.ts';
import { dataBytesRead } from './data-scan.ts';
import { ownDropReason } from './session-log-drops.ts';
import { armDataDeadline, clearDeadlines, watchCommandLines } from './limits-deadlines.ts';
import { readProxyHeaders } from './proxy-reader.ts';
import type { Logger } from '../log/types.ts';
import { isOwnCountedRefusal } from './limits-own-refusals.ts';
import { STRESS_TIMEOUT_TEXT, type QuietTime } from './stress-mode.ts';

export type CommandReply = { code: number; text: string | string[]; close?: boolean };
/** What the connect checks decided: greet (go on), or refuse for the session (reject) or with a close. */
export type GreetingDecision = { kind: 'greet' } | { kind: 'reject' | 'close'; code: number; text: string | string[] };

/** What a listener's adapter provides to the patched methods (stored on the SMTPServer as `_mailmoat`). */
export interface ConnectionHooks {
  isTrustedProxy(ip: string): boolean;
  /** Least milliseconds between the connection and the greeting (talk before it is early talk). */
  greetingDelay(): number;
  /** Runs connect-time policy and hooks; returns the greeting decision. */
  onGreeting(conn: RawConnection): Promise<GreetingDecision>;
  /** The connect checks a trusted proxy's greeting put off, if `verb` makes the session its own; else undefined. */
  connectChecksDue(conn: RawConnection, verb: string): Promise<GreetingDecision> | undefined;
  /** HELO or EHLO with an acceptable name; `line` is the command as the client sent it. */
  onHelo(conn: RawConnection, hostname: string, verb: 'HELO' | 'EHLO', line: string): Promise<{ code: number; text: string | string[]; close?: boolean } | undefined>;
  /** DATA with recipients, before the 354; `line` is the command as the client sent it. */
  onDataStart(conn: RawConnection, line: string): Promise<{ code: number; text: string | string[]; close?: boolean } | undefined>;
  /** Whether some plugin has the hook; asked synchronously, so a hook nobody has costs no promise and no lookup. */
  wants(hook: 'capabilities' | CommandHookName): boolean;
  /** EHLO accepted: the keywords after the greeting line, as the plugins leave them. */
  onCapabilities(conn: RawConnection, keywords: string[]): Promise<string[]>;
  /** NOOP, VRFY, RSET, QUIT or an unknown verb: a reply, or undefined for smtp-server's own. */
  onCommand(conn: RawConnection, hook: CommandHookName, line: string): Promise<CommandReply | undefined>;
  /** MAIL FROM's or RCPT TO's parameters as sent, before smtp-server decodes them: a refusal, or undefined to go on. */
  envelopeParamsReply(conn: RawConnection, verb: 'MAIL FROM' | 'RCPT TO', line: string): CommandReply | undefined;
  /** A reply for any command while the connection is in the rejecting state: a refused connect, or limits.max_errors reached (undefined = not rejecting). */
  rejectingReply(conn: RawConnection, command: string): { code: number; text: string | string[]; close?: boolean } | undefined;
  /** Input sent before the reply it had to wait for: logged and counted (the connection is then refused and closed). */
  pipeliningRefused(conn: RawConnection, early: PipeliningViolation): void;
  /** The idle timeout ended the session `after` a command (Postfix's states: `RCPT`, `DATA`, `CONNECT`, `END-OF-MESSAGE`) with `reply`. */
  timedOut(conn: RawConnection, after: string, reply: string): void;
  /** smtp-server ended the connection itself with `reply` (session-log-drops.ts names the `reason`). */
  clientDropped(conn: RawConnection, reason: string, reply: string): void;
  /** limits.data_timeout: milliseconds from the 354 to the final dot. */
  dataTimeout(): number;
  /** Counts NOOP, VRFY, ETRN, RSET and HELP (limits.max_junk_commands): the refusal once over the limit, else undefined. */
  junkCommand(conn: RawConnection, verb: string): CommandReply | undefined;
  /** Counts a refusal smtp-server gives by itself toward limits.max_errors (the refusal still goes out as it is). */
  ownRefusal(conn: RawConnection): void;
  /** The 421 that follows the refusal reaching limits.max_errors (limits-errors-close.ts), or undefined below it. */
  errorLimitReply(conn: RawConnection): CommandReply | undefined;
}

/** How long a connection may stay quiet now (front-door.ts gives each listener one; stress-mode.ts decides). */
export interface IdleTimeouts {
  of(conn: RawConnection): QuietTime;
  /** Stress's shorter time closed `conn`. */
  cutShort(conn: RawConnection): void;
}

export interface RawConnection {
  id: string;
  remoteAddress: string;
  clientHostname: string;
  secure: boolean;
  session: { id: string; disabledCommands?: string[]; user?: unknown; secure: boolean; error?: string; commandLine?: string };
  _server: { options: Record<string, unknown>; _mailmoat?: ConnectionHooks; _mailmoatIdle?: IdleTimeouts };
  _ready: boolean;
  _xClient: Map<string, unknown>;
  _originalRemoteAddress: string;
  send(code: number, data?: string | string[], context?: unknown): void;
  close(): void;
  _isSupported(cmd: string): boolean;
  _getHandler(cmd: string): unknown;
  _resetSession(): void;
  _nextHandler: unknown;
  _upgrading?: boolean;
  _parser?: unknown;
  _socket?: Socket;
  /** HELO or EHLO once the client sent one (false again after STARTTLS): PIPELINING is offered after EHLO only. */
  openingCommand?: string | false;
  /** A command's handler (ours or smtp-server's) has not called back yet. */
  _handlerPending?: boolean;
  /** DATA is being read, or the message is in and its onData handler has not called back. */
  _dataStream?: unknown;
  /** The verb of the client's last command, for the state a timeout is logged in. */
  lastVerb?: string;
}

type Handler = (this: RawConnection, command: Buffer, callback: () => void) => void;

const ENHANCED = /^\d\.\d{1,3}\.\d{1,3} /;
/** The reply to every session a stop ends (session-shutdown.ts sends the same), as Postfix's `421 4.3.2`. */
/** The text smtp-server gives (without an enhanced code after HELO or EHLO) to a command sent while it closes. */
const OWN_SHUTDOWN_TEXT = 'Server shutting down';
/** The text of smtp-server's idle timeout, which stress replaces with its own. */
const OWN_TIMEOUT_TEXT = 'Timeout - closing connection';
const HTTP_REQUEST = /^(OPTIONS|GET|HEAD|POST|PUT|DELETE|TRACE|CONNECT) \/.* HTTP\/\d\.\d$/i;
/**
 * Commands of RFC 5321 (and RFC 821's, which it retired) that smtp-server has no handler for: recognised, not
 * implemented (§4.2.4: 502), where an unknown verb gets 500.
 */
const NOT_IMPLEMENTED: ReadonlySet<string> = new Set(['EXPN', 'TURN', 'SEND', 'SOML', 'SAML']);
let applied = false;

function hooksOf(conn: RawConnection): ConnectionHooks | undefined { return conn._server._mailmoat; }

function idleOf(conn: RawConnection): IdleTimeouts | undefined { return conn._server._mailmoatIdle; }

/**
 * Restarts `conn`'s idle timer with the time it has now (stress began or ended, a message began or ended). Only the
 * length: smtp-server's listener stays, as a second one would run its timeout twice.
 */
export function rearmIdle(conn: RawConnection): void {
  const idle = idleOf(conn);
  const socket = conn._socket;
  if (!idle || !socket || socket.destroyed || conn._upgrading || (conn as { _closing?: boolean })._closing) return;
  socket.setTimeout(idle.of(conn).ms);
}

export function applySmtpServerPatches(): void {
  if (applied) return;
  applied = true;
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;

  // Our replies carry their own enhanced status code; smtp-server must not add a second one.
  const origSend = proto.send as RawConnection['send'];
  proto.send = function (this: RawConnection, code: number, data?: string | string[], context?: unknown) {
    if (code === 421 && data === OWN_SHUTDOWN_TEXT && hooksOf(this)) data = SHUTTING_DOWN;
    const first = Array.isArray(data) ? data[0] : data;
    if (typeof first === 'string' && ENHANCED.test(first)) context = false;
    // smtp-server writes only to a socket whose state is 'open'; a client that has shut down its sending side
    // ('writeOnly' to us) still reads, and is owed the replies to what it sent before (the 250 of its message).
    const socket = (this as { _socket?: Socket })._socket;
    if (!socket?.allowHalfOpen || socket.readyState !== 'writeOnly' || socket.destroyed) return origSend.call(this, code, data, context);
    Object.defineProperty(socket, 'readyState', { value: 'open', configurable: true });
    try { return origSend.call(this, code, data, context); } finally { delete (socket as { readyState?: unknown }).readyState; }
  };

  // The 421s smtp-server decides alone (an early talker, ten unknown verbs, an overlong line) end the connection with
  // no handler of ours asked: reported here, where every reply passes, so the log says why and the drop is counted.
  const sendReplies = proto.send as RawConnection['send'];
  proto.send = function (this: RawConnection, code: number, data?: string | string[], context?: unknown) {
    sendReplies.call(this, code, data, context);
    const reason = ownDropReason(code, data);
    if (reason) hooksOf(this)?.clientDropped(this, reason, String(this.session.error ?? `${code} ${data}`));
  };

  // The refusals smtp-server gives by itself (503, 501, 538, 500: limits-own-refusals.ts) count toward max_errors as
  // ours do; the one that reaches it goes out as it is, the 421 right behind it (limits-errors-close.ts).
  const sendOwnCounted = proto.send as RawConnection['send'];
  proto.send = function (this: RawConnection & { _closing?: boolean }, code: number, data?: string | string[], context?: unknown) {
    const h = hooksOf(this);
    if (h && code >= 400 && !this._closing && isOwnCountedRefusal(code, data, enhancedCodeOf(this, code, context))) h.ownRefusal(this);
    return sendOwnCounted.call(this, code, data, context);
  };

  // The deadlines' timers go with the connection.
  const origOnClose = proto._onClose as (this: RawConnection) => void;
  proto._onClose = function (this: RawConnection) {
    clearDeadlines(this);
    return origOnClose.call(this);
  };

  // A socket or TLS error names the connection it ended, so its log line and the session's own lines share a cid.
  const origOnError = proto._onError as (this: RawConnection, err: unknown) => void;
  proto._onError = function (this: RawConnection, err: unknown) {
    if (hooksOf(this) && err && typeof err === 'object') (err as { cid?: string }).cid ??= this.id;
    return origOnError.call(this, err);
  };

  // A quoted local part may hold spaces (RFC 5321 §4.1.2); smtp-server splits the line at them. Not only for our own
  // listeners: any smtp-server in the process (a test's smarthost) reads such a path correctly too.
  const origParseAddress = proto._parseAddressCommand as (this: RawConnection, name: string, command: Buffer | string) => { address?: unknown } | false;
  proto._parseAddressCommand = function (this: RawConnection, name: string, command: Buffer | string) {
    const shielded = shieldQuotedSpaces((command ?? '').toString());
    if (!shielded) return origParseAddress.call(this, name, command);
    const parsed = origParseAddress.call(this, name, shielded.line);
    if (parsed && typeof parsed.address === 'string') parsed.address = shielded.restore(parsed.address);
    return parsed;
  };

  // The idle timeout's length is the connection's own (stress-mode.ts: shorter under stress, not for a message being
  // sent nor for trusted clients), where smtp-server gives every connection its socketTimeout.
  const origArm = proto._armTimeout as (this: RawConnection, socket?: Socket) => void;
  proto._armTimeout = function (this: RawConnection & { _onTimeout(): void }, socket: Socket | undefined = this._socket) {
    const idle = idleOf(this);
    if (!idle || !socket) return origArm.call(this, socket);
    socket.setTimeout(idle.of(this).ms, () => this._onTimeout());
  };

  // The idle timeout: its 421 is smtp-server's, sent only when the client owes us input. What was sent, and in which
  // state, is reported, so the log says timeout and not a hang-up (and a message cut off says so on its summary line).
  const origTimeout = proto._onTimeout as (this: RawConnection) => void;
  proto._onTimeout = function (this: RawConnection & { _parser?: { _dataMode?: boolean }; _closing?: boolean; _armTimeout(): void }) {
    const h = hooksOf(this);
    if (!h) return origTimeout.call(this);
    // Not ready and not closing: the gateway owes the greeting (its connect hooks, a blocklist or PTR lookup, or
    // greeting_delay still run), as it owes a reply while a command's hooks run. The greeting's write restarts the
    // time, so the client's idle time starts there; stress's shorter time must not cut a client waiting for us.
    if (!this._ready && !this._closing) return this._armTimeout();
    const dataStream = this._dataStream;
    const inData = !!dataStream && !!this._parser && !!this._parser._dataMode;
    // Judged as it fires: every session's timer was armed again when stress began or ended (front-door.ts).
    const stressed = !this._closing && idleOf(this)?.of(this).stressed === true;
    let sent: string | undefined;
    const ownSend = this.send;
    this.send = function (this: RawConnection, code: number, data?: string | string[], context?: unknown) {
      if (stressed && code === 421 && data === OWN_TIMEOUT_TEXT) { data = STRESS_TIMEOUT_TEXT; context = false; }
      ownSend.call(this, code, data, context);
      sent ??= String((this.session as { error?: string }).error ?? code);
    };
    try { origTimeout.call(this); } finally { delete (this as { send?: unknown }).send; }
    if (!sent) return;
    if (inData) markDataTimeout(dataStream as object, sent, dataBytesRead(this._parser));
    if (stressed) idleOf(this)?.cutShort(this);
    h.timedOut(this, inData ? 'DATA' : stateAfter(this), sent);
  };

  // XCLIENT from any address inside server.trusted_proxies (smtp-server only knows exact addresses).
  proto._proxyCommandAllowed = function (this: RawConnection, command: string) {
    const h = hooksOf(this);
    if (!h) return false;
    return command === 'XCLIENT' && !this._xClient.has('ADDR') && h.isTrustedProxy(this._originalRemoteAddress) && this._isSupported(command);
  };

  // XFORWARD is not offered and is answered as an unknown command, from anyone: smtp-server's would change the client
  // address later phases judge without the connect checks (a blocklist) ever seeing it. XCLIENT runs them.
  const origGetHandler = proto._getHandler as (this: RawConnection, command: string) => unknown;
  proto._getHandler = function (this: RawConnection, command: string) {
    if (command === 'XFORWARD' && hooksOf(this)) return undefined;
    return origGetHandler.call(this, command);
  };

  // smtp-server waits 100 ms before it even starts a connection (early-talker detection), and only then would the
  // connect hooks run. Start at once instead; the greeting still waits out the pause (see _sendGreeting below).
  const origSetListeners = proto._setListeners as (this: RawConnection, cb: () => void) => void;
  proto._setListeners = function (this: RawConnection & { _mailmoatSince?: number; connectionReady(): void }, cb: () => void) {
    if (!hooksOf(this) || this._server.options.maxClients) return origSetListeners.call(this, cb);
    return origSetListeners.call(this, () => {
      this._mailmoatSince = Date.now();
      this.connectionReady();
    });
  };

  // With half-open sockets (front-door.ts), a client's FIN ends the parser's input: once the parser has dispatched
  // and answered everything before it, the connection is closed, as Node would have done at once without the replies.
  const origCreateParser = proto._createParser as (this: RawConnection) => NodeJS.EventEmitter;
  proto._createParser = function (this: RawConnection & { _parser?: unknown }) {
    const parser = origCreateParser.call(this);
    if (hooksOf(this)) {
      parser.once('finish', () => { if (this._parser === parser) this.close(); });
      trackUnreadInput(parser);
      // A command line must be complete within idle_timeout of its first byte (or stress's shorter time), however
      // slowly it trickles in.
      const lineTime = () => idleOf(this)?.of(this) ?? { ms: Number(this._server.options.socketTimeout) || 60_000, stressed: false };
      watchCommandLines(this, parser as unknown as { write(chunk: unknown, ...rest: unknown[]): boolean }, () => lineTime().ms, () => {
        const p = parser as unknown as { _dataMode?: boolean };
        if (this._parser !== parser || p._dataMode || this._upgrading || (this as { _closing?: boolean })._closing) return;
        const stressed = lineTime().stressed;
        deadlinePassed(this, '4.4.2 Timeout - command line not completed in time, closing connection', stateAfter(this));
        if (stressed) idleOf(this)?.cutShort(this);
      });
    }
    return parser;
  };

  // A TLS session is not half-open: a TLS socket takes the setting of the socket it wraps, and a half-open one
  // would wait out its handshake timeout after a client that closed instead of shaking hands. A client that closed
  // its side before its STARTTLS was answered cannot shake hands at all.
  const origUpgrade = proto.upgrade as (this: RawConnection, callback: () => void, secureCallback?: () => void) => void;
  proto.upgrade = function (this: RawConnection & { _socket: Socket }, callback: () => void, secureCallback?: () => void) {
    const raw = this._socket;
    raw.allowHalfOpen = false;
    origUpgrade.call(this, callback, secureCallback);
    if (raw.readableEnded) raw.destroy();
  };

  // Connect hooks run where the greeting is sent: at connect, and again after XCLIENT names the real client.
  const origGreeting = proto._sendGreeting as (this: RawConnection) => void;
  proto._sendGreeting = function (this: RawConnection & { _mailmoatSince?: number }) {
    const h = hooksOf(this);
    if (!h) return origGreeting.call(this);
    this._ready = false; // commands sent before the greeting are refused as early talk
    h.onGreeting(this).then(async (d) => {
      const pause = (this._mailmoatSince ?? 0) + h.greetingDelay() - Date.now();
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      this._ready = true;
      // A stop that began while the connect hooks or the greeting delay ran: no 220 followed by a 421 at EHLO.
      if ((this._server as { _closeTimeout?: unknown })._closeTimeout) { this.send(421, SHUTTING_DOWN, false); return; }
      if (d.kind === 'greet') return origGreeting.call(this);
      this.send(d.code, d.text, false);
      if (d.kind === 'close') this.close();
    }).catch(() => { this.send(421, '4.3.0 Temporary local problem', false); this.close(); });
  };

  // Every command of a refused client gets the refusal, as Postfix does with a delayed reject.
  const origOnCommand = proto._onCommand as Handler;
  proto._onCommand = function onCommand(this: RawConnection, command: Buffer, callback: () => void) {
    const h = hooksOf(this);
    const name = (command || '').toString().split(' ')[0].toUpperCase();
    if (h && isCommand(this, command)) this.lastVerb = name;
    // A trusted proxy that goes on without XCLIENT is checked now, as its own client; a refusal then answers this
    // command as it answers every later one, through the rejecting state below. Pending, so a stop waits for it.
    const due = h && this._ready && isCommand(this, command) ? h.connectChecksDue(this, name) : undefined;
    if (due) {
      this._handlerPending = true;
      due.then((d) => {
        this._handlerPending = false;
        if (d.kind !== 'close') return onCommand.call(this, command, callback);
        answer(this, { code: d.code, text: d.text, close: true }, callback, false);
      }, () => {
        this._handlerPending = false;
        answer(this, { code: 421, text: '4.3.0 Temporary local problem', close: true }, callback, false);
      });
      return;
    }
    const early = h && this._ready && isCommand(this, command) ? earlyInput(this, name) : undefined;
    if (early) return refuseEarlyInput(this, early, callback);
    const r = h && this._ready ? h.rejectingReply(this, name) : undefined;
    if (r) {
      this.send(r.code, r.text);
      if (r.close) this.close();
      return setImmediate(() => callback?.());
    }
    const junk = h && this._ready && isCommand(this, command) ? h.junkCommand(this, name) : undefined;
    if (junk) return answer(this, junk, callback, false);
    // smtp-server's 500 and its count of them; a command it lacks but RFC 5321 names gets 502, counted alike.
    const fallback = () => (h && this._ready && NOT_IMPLEMENTED.has(name) && isUnrecognized(this, name, command)
      ? notImplemented(this, callback) : origOnCommand.call(this, command, callback));
    if (h && this._ready && h.wants('unrecognizedCommand') && isUnrecognized(this, name, command)) {
      h.onCommand(this, 'unrecognizedCommand', command.toString()).then((reply) => {
        if (!reply) return fallback();
        answer(this, reply, callback, false);
      }, () => failed(this, callback));
      return;
    }
    return fallback();
  };

  // NOOP, VRFY, RSET and QUIT: the hook's reply replaces smtp-server's; RSET still resets and QUIT still closes.
  const wrapCommand = (orig: Handler, hook: CommandHookName): Handler => function (this: RawConnection, command: Buffer, callback: () => void) {
    const h = hooksOf(this);
    if (!h?.wants(hook)) return orig.call(this, command, callback);
    if (hook === 'vrfy' && !command.toString().trim().split(/\s+/)[1]) return orig.call(this, command, callback); // 501
    h.onCommand(this, hook, command.toString()).then((reply) => {
      if (!reply) return orig.call(this, command, callback);
      if (hook === 'rset') this._resetSession();
      answer(this, { ...reply, close: reply.close || hook === 'quit' }, callback, false);
    }, () => (hook === 'quit' ? orig.call(this, command, callback) : failed(this, callback)));
  };
  proto.handler_NOOP = wrapCommand(proto.handler_NOOP as Handler, 'noop');
  proto.handler_VRFY = wrapCommand(proto.handler_VRFY as Handler, 'vrfy');
  proto.handler_RSET = wrapCommand(proto.handler_RSET as Handler, 'rset');
  proto.handler_QUIT = wrapCommand(proto.handler_QUIT as Handler, 'quit');

  // smtp-server answers 501 to a name it will not take (over 300 characters, or with control characters); such a
  // name must not reach the helo hooks or become the session's HELO first (a 16 KB one fed SPF's %{h} and Received).
  const acceptableHeloName = (name: string) => name.length <= 300 && !/[\x00-\x1f\x7f-\x9f]/.test(name);
  const wrapHelo = (orig: Handler, hidesAuth: boolean, verb: 'HELO' | 'EHLO'): Handler => function (this: RawConnection, command: Buffer, callback: () => void) {
    const h = hooksOf(this);
    const parts = command.toString().trim().split(/\s+/);
    const runOrig = (cb: () => void) => {
      if (hidesAuth && !this.secure) {
        // AUTH is offered only after TLS; a client that tries anyway gets smtp-server's 538.
        const disabled = (this._server.options.disabledCommands as string[] | undefined) ?? [];
        this.session.disabledCommands = [...disabled, 'AUTH'];
        try { orig.call(this, command, cb); } finally { this.session.disabledCommands = undefined; }
        return;
      }
      orig.call(this, command, cb);
    };
    const callOrig = () => (verb === 'EHLO' && h?.wants('capabilities') ? withCapabilities(this, h, runOrig, callback) : runOrig(callback));
    if (!h || parts.length !== 2 || !acceptableHeloName(parts[1])) return callOrig();
    h.onHelo(this, parts[1], verb, command.toString()).then((r) => (r ? answer(this, r, callback) : callOrig()), () => failed(this, callback));
  };
  proto.handler_EHLO = wrapHelo(proto.handler_EHLO as Handler, true, 'EHLO');
  proto.handler_HELO = wrapHelo(proto.handler_HELO as Handler, false, 'HELO');

  // MAIL FROM's and RCPT TO's parameters are judged as the client wrote them: smtp-server decodes their xtext first
  // (what is not xtext it keeps as sent, a decoded control character it calls a bad address) and answers REQUIRETLS.
  const wrapEnvelope = (orig: Handler, verb: 'MAIL FROM' | 'RCPT TO'): Handler => function (this: RawConnection, command: Buffer, callback: () => void) {
    const r = hooksOf(this)?.envelopeParamsReply(this, verb, command.toString());
    // The line as sent, for the hooks smtp-server's onMailFrom and onRcptTo run (they get only the parsed address).
    if (!r) { this.session.commandLine = command.toString(); return orig.call(this, command, callback); }
    answer(this, r, callback);
  };
  proto.handler_MAIL = wrapEnvelope(proto.handler_MAIL as Handler, 'MAIL FROM');
  proto.handler_RCPT = wrapEnvelope(proto.handler_RCPT as Handler, 'RCPT TO');

  // DATA-start hooks run before the 354; from the 354 the message has limits.data_timeout to reach its final dot.
  const smtpServerData = proto.handler_DATA as Handler;
  const origData: Handler = function (this: RawConnection, command: Buffer, callback: () => void) {
    smtpServerData.call(this, command, callback);
    const h = hooksOf(this);
    const stream = this._dataStream as (NodeJS.EventEmitter & { destroyed?: boolean; writableEnded?: boolean; listenerCount(e: string): number; destroy(err?: Error): void }) | undefined;
    if (!h || !stream || !(this._parser as { _dataMode?: boolean } | undefined)?._dataMode) return;
    // The message keeps idle_timeout under stress, and the session has the time of the moment once its final dot is in.
    rearmIdle(this);
    stream.once('finish', () => rearmIdle(this));
    armDataDeadline(this, stream, h.dataTimeout(), () => {
      const parser = this._parser as { _dataMode?: boolean } | undefined;
      if (this._dataStream !== stream || !parser?._dataMode || (this as { _closing?: boolean })._closing) return;
      const sent = deadlinePassed(this, '4.4.2 Timeout - message not received in full in time, closing connection', 'DATA');
      markDataTimeout(stream, sent, dataBytesRead(this._parser));
      // Dropped now, as a client that hung up: the spool file goes and the summary line says timeout (data-timeout.ts).
      if (!stream.destroyed && !stream.writableEnded) {
        const err = Object.assign(new Error('The message did not reach its final dot within limits.data_timeout'), { code: 'ECONNECTION' });
        stream.destroy(stream.listenerCount('error') ? err : undefined);
      }
    });
  };
  proto.handler_DATA = function (this: RawConnection & { session: { envelope: { rcptTo: unknown[] } } }, command: Buffer, callback: () => void) {
    const h = hooksOf(this);
    if (!h || !this.session.envelope.rcptTo.length) return origData.call(this, command, callback);
    h.onDataStart(this, command.toString()).then((r) => {
      if (r) return answer(this, r, callback);
      // The message may also have come while the hooks ran: the last moment it can be refused unread.
      const early = earlyInput(this, 'DATA');
      if (early) return refuseEarlyInput(this, early, callback);
      origData.call(this, command, callback);
    }, () => failed(this, callback));
  };
}

/**
 * Sends a hook's reply and lets smtp-server read the next command. `context` false keeps smtp-server from adding an
 * enhanced code of its own to a plugin's text that lacks one.
 */
function answer(conn: RawConnection, r: CommandReply, callback: () => void, context?: false): void {
  conn.send(r.code, r.text, context);
  if (r.close) conn.close();
  callback?.();
}

/**
 * Input sent before the reply it had to wait for: 554 and the connection closed, the transaction (if any) dropped
 * unread. Logged with an excerpt and counted as a refused client, as Postfix logs "improper command pipelining".
 */
function refuseEarlyInput(conn: RawConnection, early: PipeliningViolation, callback: () => void): void {
  hooksOf(conn)?.pipeliningRefused(conn, early);
  answer(conn, { ...PIPELINING_REFUSAL, close: true }, callback, false);
}

/**
 * 502 for a command RFC 5321 names and the gateway does not do; counted with the unknown ones, as smtp-server counts
 * them, and toward limits.max_errors, as its 500 for an unknown one is (the send patch above).
 */
function notImplemented(conn: RawConnection, callback: () => void): void {
  const c = conn as RawConnection & { _unrecognizedCommands: number };
  c._unrecognizedCommands++;
  if (c._unrecognizedCommands >= 10) return answer(conn, { code: 421, text: '4.7.0 Error: too many unrecognized commands', close: true }, callback, false);
  hooksOf(conn)?.ownRefusal(conn);
  answer(conn, { code: 502, text: '5.5.1 Command not implemented' }, callback, false);
}

/** The enhanced code smtp-server will put before a reply's text (none for `context` false, or with them hidden). */
function enhancedCodeOf(conn: RawConnection, code: number, context: unknown): string {
  const own = (conn as RawConnection & { _getEnhancedStatusCode?: (code: number, context: unknown) => string })._getEnhancedStatusCode;
  return typeof own === 'function' ? String(own.call(conn, code, context) ?? '') : '';
}

/**
 * A deadline passed (limits-deadlines.ts): 421 and the connection closed, logged as the idle timeout is, `after` the
 * state it was in. Returns the reply as sent.
 */
function deadlinePassed(conn: RawConnection, text: string, after: string): string {
  conn.send(421, text, false);
  const sent = String(conn.session.error ?? `421 ${text}`);
  hooksOf(conn)?.timedOut(conn, after, sent);
  return sent;
}

/** The state an idle session timed out in, named as Postfix names it (`timeout after RCPT`). */
function stateAfter(conn: RawConnection): string {
  if (!conn.lastVerb) return 'CONNECT';
  const envelope = (conn.session as { envelope?: { mailFrom?: unknown } }).envelope;
  // DATA that was answered and the transaction gone: the message was taken (or refused) and the client went quiet.
  if (conn.lastVerb === 'DATA' && !envelope?.mailFrom) return 'END-OF-MESSAGE';
  return conn.lastVerb;
}

/** A hook that threw: the client may retry, the session goes on. */
function failed(conn: RawConnection, callback: () => void): void {
  conn.send(451, '4.3.0 Temporary local problem', false);
  callback?.();
}

/** A line smtp-server takes as a command of the client's (not a continuation, nor what it refuses unread). */
function isCommand(conn: RawConnection, command: Buffer): boolean {
  if (conn._nextHandler || conn._upgrading || (conn._server as { _closeTimeout?: unknown })._closeTimeout) return false;
  return !HTTP_REQUEST.test(command.toString());
}

/** A verb smtp-server would answer with its 500 (no handler, not a queued continuation, not an HTTP probe). */
function isUnrecognized(conn: RawConnection, name: string, command: Buffer): boolean {
  if (!isCommand(conn, command) || conn._server.options.lmtp) return false;
  return !(conn._isSupported(name) && conn._getHandler(name));
}

/**
 * Runs smtp-server's EHLO with its 250 held back, lets the capabilities hook edit the keywords, then sends it.
 * Anything else the handler sends (a 501 for a bad name) goes out at once.
 */
function withCapabilities(conn: RawConnection, h: ConnectionHooks, run: (cb: () => void) => void, callback: () => void): void {
  let held: string[] | undefined;
  let finished = false;
  let waiting = false;
  const ownSend = conn.send;
  conn.send = function (this: RawConnection, code: number, data?: string | string[], context?: unknown) {
    if (!held && code === 250 && Array.isArray(data)) { held = data; return; }
    return ownSend.call(this, code, data, context);
  };
  try {
    run(() => { finished = true; if (waiting) callback(); });
  } finally {
    delete (conn as { send?: unknown }).send;
  }
  if (!held) { if (finished) callback(); else waiting = true; return; }
  const [greeting, ...keywords] = held;
  h.onCapabilities(conn, keywords).then((kw) => kw, () => keywords).then((kw) => {
    conn.send(250, [greeting, ...kw], false);
    callback();
  });
}

/** The part of the gateway's runtime the PROXY header reading asks at each connection (the Runtime fits). */
export interface ProxyRuntime {
  config: { server: { proxy_protocol: boolean; proxy_timeout: number } };
  policy: { trustedProxies: { has(ip: string): boolean } };
  log: Logger;
  metrics: { inc(name: string): void };
}

/**
 * The PROXY protocol on a listener (proxy-reader.ts): a header, v1 or v2, from every peer in server.trusted_proxies
 * while server.proxy_protocol is on, whole within server.proxy_timeout; never on the implicit-TLS port, where the
 * schema promises a handshake first.
 */
export function trustProxyHeadersFrom(server: object, rt: ProxyRuntime, listener: string): void {
  readProxyHeaders(server, {
    expects: (ip) => listener !== 'smtps' && rt.config.server.proxy_protocol && rt.policy.trustedProxies.has(ip),
    deadlineMs: () => rt.config.server.proxy_timeout,
    listener,
    log: rt.log,
    turnedAway: () => rt.metrics.inc('connections_refused'),
  });
}

// One outgoing SMTP connection: greeting, EHLO (HELO fallback), STARTTLS, AUTH, then transactions with PIPELINING.
//
// Why our own client and not nodemailer's transport: the relay sends finished messages (raw bytes plus an envelope),
// and nodemailer builds a MIME tree, message ids and a stream pipeline for each one anyway; with that it was about a
// sixth of the gateway's CPU per 4 KB message. This client writes the envelope in one packet when the server offers
// PIPELINING (RFC 2920) and the dot-stuffed body in large writes.
import net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import type { SmarthostTarget } from './smarthost.ts';
import { isAscii } from '../text/ascii.ts';
import { aLabelAddress } from '../text/idn-address.ts';
import { LineLengthLimit } from './line-length-limit.ts';
import { identityOptions, tlsErrorText as certificateText, trustContext } from './tls-trust.ts';
import type { Logger } from '../log/types.ts';
import type { MessageDsn, RecipientDsn } from '../queue/entry.ts';
import type { HopTls } from './types.ts';
import { STAGE_WAITS, stageTimeout, type Stage } from './stage-timeouts.ts';
import { ownListenerAt, type OwnListener } from './own-listeners.ts';

/**
 * How to reach the host: the smarthost or route settings, plus the name we greet with, and where a session's
 * compromises (no AUTH offered, TLS given up) are logged. `heloName` is the gateway's own hostname: a next hop that
 * answers with it is the gateway itself, and so is one at an address of `ownListeners` (a mail loop either way).
 */
export type ClientOptions = Pick<SmarthostTarget, 'host' | 'port' | 'secure' | 'starttls' | 'user' | 'pass' | 'tlsVerify' | 'tlsCaFile' | 'servername' | 'timeout' | 'connectTimeout' | 'dataDoneTimeout' | 'ownListeners'> & { heloName: string; log?: Logger };

/** Postfix's smtp_data_done_timeout: how long the reply to the final dot may take when nothing else says. */
export const DATA_DONE_TIMEOUT_MS = 600_000;

export interface Reply { code: number; text: string }

/** DSN parameters (RFC 3461) to pass on when the server offers DSN: the message's, and each recipient's by address. */
export interface DsnRequest extends MessageDsn { recipients?: ReadonlyMap<string, RecipientDsn> }

export interface SendOptions {
  smtputf8?: boolean;
  dsn?: DsnRequest;
  /**
   * The message holds header fields in UTF-8 (RFC 6532), which only a server offering SMTPUTF8 may be sent: one
   * without it is sent nothing, and each recipient gets a 5.6.7 refusal (RFC 6531 §3.2, as Postfix bounces it).
   */
  utf8Headers?: boolean;
}

/** RFC 3461 §4's xtext: `+`, `=`, controls, space and anything beyond ASCII as `+XX` of their UTF-8 octets. */
export function xtext(value: string): string {
  let out = '';
  for (const b of Buffer.from(value, 'utf8')) {
    out += b > 0x20 && b < 0x7f && b !== 0x2b && b !== 0x3d ? String.fromCharCode(b) : `+${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** RFC 6533 §3's utf-8-addr-xtext for ORCPT's utf-8 type: what xtext would escape, as `\x{HEX}` of the character. */
function utf8AddrXtext(value: string): string {
  let out = '';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    out += cp > 0x20 && cp < 0x7f && ch !== '+' && ch !== '=' && ch !== '\\' ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return out;
}

function mailDsnParams(d: DsnRequest | undefined): string {
  if (!d) return '';
  return (d.ret ? ` RET=${d.ret}` : '') + (d.envid !== undefined ? ` ENVID=${xtext(d.envid)}` : '');
}

function rcptDsnParams(r: RecipientDsn | undefined): string {
  if (!r) return '';
  let out = r.notify?.length ? ` NOTIFY=${r.notify.join(',')}` : '';
  if (r.orcpt) out += ` ORCPT=${r.orcpt.type};${r.orcpt.type === 'utf-8' ? utf8AddrXtext(r.orcpt.address) : xtext(r.orcpt.address)}`;
  return out;
}

/** Where a session failed: before any envelope reply (`host`: another host may do) or within a transaction. */
export class SmtpClientError extends Error {
  readonly reply?: Reply;
  readonly stage: 'connect' | 'greeting' | 'ehlo' | 'tls' | 'auth' | 'transaction';
  /** A network-level failure (no reply at all): the connection is gone. */
  readonly network: boolean;
  /** Who gave `reply`, for the line that quotes it. */
  readonly server?: string;
  /** The transaction had no reply yet: nothing was accepted, so it can be tried again on another connection. */
  beforeReply = false;
  /** The final dot had been handed to the socket: the server may have taken the message (see RecipientResult). */
  afterEndOfData = false;
  /** The next hop is this gateway (a mail loop): no retry or other host of the destination will do better. */
  loopsBack = false;
  /** The server ended the session with `reply` (a 421) in answer to this command (`RCPT TO`): the recipients' reason. */
  inReplyTo?: string;
  /**
   * The server asked us to slow down (a 421 or 4.7.x to MAIL FROM) while its pool was down to one connection: set by
   * the pool, for the queue to hold the destination back (RecipientResult.slowDown).
   */
  slowDown = false;
  constructor(stage: SmtpClientError['stage'], message: string, reply?: Reply, network = false, server?: string) {
    super(message);
    this.stage = stage;
    this.reply = reply;
    this.network = network;
    this.server = server;
  }
  /**
   * What went wrong, with the remote reply when there is one, as Postfix words it: `SASL authentication failed;
   * server X said: 535 …`. The reply alone would not say at which step the session was refused.
   */
  get replyText(): string {
    if (!this.reply) return this.message;
    return `${this.message}; server ${this.server ?? 'the next hop'} said: ${this.reply.code} ${this.reply.text.replace(/\n/g, ' ')}`;
  }
}

export interface TransactionResult {
  /** The reply to MAIL FROM. */
  mail: Reply;
  /** The reply to each RCPT TO, in order. */
  rcpt: Reply[];
  /** The final reply after the body; undefined when the transaction ended before DATA. */
  data?: Reply;
}

const CRLF = Buffer.from('\r\n');
const DOT_CRLF = Buffer.from('.\r\n');

/** Body bytes with every line that starts with "." doubled (RFC 5321 4.5.2), across chunk boundaries. */
export function dotStuff(chunk: Buffer, atLineStart: boolean): Buffer {
  let extra = atLineStart && chunk[0] === 0x2e ? 1 : 0;
  for (let i = chunk.indexOf('\n.'); i >= 0; i = chunk.indexOf('\n.', i + 2)) extra++;
  if (extra === 0) return chunk;
  const out = Buffer.allocUnsafe(chunk.length + extra);
  let o = 0, from = 0;
  if (atLineStart && chunk[0] === 0x2e) { out[o++] = 0x2e; }
  for (let i = chunk.indexOf('\n.'); i >= 0; i = chunk.indexOf('\n.', i + 2)) {
    o += chunk.copy(out, o, from, i + 1);
    out[o++] = 0x2e;
    from = i + 1;
  }
  chunk.copy(out, o, from);
  return out;
}

// RFC 5321 (4.5.3.1.5) allows reply lines of 512 octets; a reply far beyond these is a broken or hostile server,
// not one to buffer without end.
const MAX_REPLY_LINE = 64 * 1024;
const MAX_REPLY_LINES = 1000;

export class SmtpConnection {
  private socket: net.Socket;
  private buffer = '';
  /** How much of `buffer` is known to hold no line end. */
  private scanned = 0;
  private readonly waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  private readonly replies: Reply[] = [];
  private partial: string[] = [];
  private failure?: Error;
  private readonly o: ClientOptions;
  extensions = new Set<string>();
  private authMechanisms = new Set<string>();
  /** The server's SIZE limit from EHLO; 0 when it announced none or no number. */
  private sizeLimit = 0;
  closed = false;
  /** The transaction state is clean: a new MAIL FROM may follow. */
  private clean = true;
  /** Waiting in the pool, not in a transaction. */
  private pooled = false;
  /** Why this session runs without STARTTLS although the policy is opportunistic (the handshake failed). */
  private readonly tlsFailed?: string;
  /** The server took our credentials. */
  authenticated = false;
  /** Credentials are configured but this session did not send them (the server offered no AUTH). */
  private withoutConfiguredAuth = false;
  /** What this session had to do short of the configuration (each also logged as a warning). */
  readonly warnings: string[] = [];
  /** The final dot is sent and its reply awaited, under the longer data_done_timeout. */
  private waitingForDataDone = false;
  /** The transaction's final dot left the process (its write completed): from here a lost connection may mean a duplicate. */
  private endOfDataWritten = false;
  /** What the session waits for now, whose time the socket's timeout runs (stage-timeouts.ts). */
  private stage: Stage = 'greeting';

  private constructor(socket: net.Socket, o: ClientOptions, tlsFailed?: string) {
    this.socket = socket;
    this.o = o;
    this.tlsFailed = tlsFailed;
    this.attach(socket);
  }

  get secure(): boolean { return this.socket instanceof tls.TLSSocket; }

  /** The address the session is connected to (a host name resolves to one of several): for the log's `relay`. */
  get peerAddress(): string | undefined { return this.socket.remoteAddress; }

  /** The server as a reply line names it: the MX host's name with the address connected to, or the URL's host. */
  private get peer(): string {
    const { host, servername } = this.o;
    return servername && servername !== host ? `${servername}[${host}]` : host;
  }

  /**
   * The hop's encryption for the delivery lines, as Postfix logs `Verified/Trusted/Anonymous TLS connection
   * established`: `verified` is whether the certificate chained to a trusted CA and carried the host's name.
   */
  get tls(): HopTls {
    if (!(this.socket instanceof tls.TLSSocket)) return 'none';
    return { protocol: this.socket.getProtocol() ?? 'unknown', cipher: this.socket.getCipher()?.name ?? 'unknown', verified: this.socket.authorized };
  }

  /** Whether the TLS certificate verified (CA and host name), and if not why; undefined without TLS. */
  get certificate(): { verified: boolean; error?: string } | undefined {
    if (!(this.socket instanceof tls.TLSSocket)) return undefined;
    const error = this.socket.authorizationError;
    return { verified: this.socket.authorized, error: error ? String(error) : undefined };
  }

  /**
   * Connects and gets the session ready for transactions (EHLO, STARTTLS, AUTH as configured).
   *
   * With opportunistic STARTTLS a failed handshake is retried once on a new connection without STARTTLS, as
   * Postfix's `may` level does: otherwise one smarthost with broken TLS would hold all mail until it expired. Not
   * when credentials are configured: they never cross a plaintext connection, so such a session could not log in.
   */
  static async open(o: ClientOptions, cutOff?: AbortSignal): Promise<SmtpConnection> {
    try {
      return await SmtpConnection.attempt(o, cutOff);
    } catch (e) {
      const handshake = e instanceof SmtpClientError && e.stage === 'tls' && e.network;
      if (!handshake || o.secure || o.starttls !== 'opportunistic' || cutOff?.aborted) throw e;
      if (o.user !== undefined) throw new SmtpClientError('tls', `STARTTLS failed (${e.message}); not retrying without TLS, since the credentials are never sent in plaintext`, undefined, true);
      return SmtpConnection.attempt(o, cutOff, e.message);
    }
  }

  /** `cutOff` ends the session where it stands (a stop whose grace is over), as a lost connection would. */
  private static async attempt(o: ClientOptions, cutOff: AbortSignal | undefined, tlsFailed?: string): Promise<SmtpConnection> {
    const socket = await connectSocket(o, cutOff);
    const own = o.ownListeners && ownListenerAt(socket.remoteAddress ?? o.host, socket.remotePort ?? o.port, o.ownListeners);
    if (own) {
      socket.destroy();
      // Before any greeting: a listener of ours behind the PROXY protocol, or one of implicit TLS reached without it,
      // would only time out, and the message would wait out queue.lifetime instead of being seen to loop.
      throw loopError(o, 'connect', `${o.host}:${o.port} is this gateway's own listener (${own.key} ${own.address})`);
    }
    const c = new SmtpConnection(socket, o, tlsFailed);
    const cut = () => c.cutOff(`connection to ${o.host}:${o.port} cut off: the gateway is stopping`);
    cutOff?.addEventListener('abort', cut, { once: true });
    try {
      if (cutOff?.aborted) cut();
      if (tlsFailed) c.warn(`STARTTLS failed (${tlsFailed}); this session delivers without TLS (starttls: opportunistic)`);
      await c.setup();
    } catch (e) {
      c.destroy();
      throw e;
    } finally {
      cutOff?.removeEventListener('abort', cut);
    }
    return c;
  }

  /**
   * A server that names itself as we name ourselves is this gateway (Postfix: "host X greeted me with my own hostname"),
   * or one that shares its name, which it must not: a next hop behind the gateway needs a hostname of its own.
   */
  private refuseOwnName(stage: 'greeting' | 'ehlo', r: Reply, how: string): void {
    const named = r.text.split(/[\s\n]+/, 1)[0].replace(/\.$/, '').toLowerCase();
    if (!named || named !== this.o.heloName.replace(/\.$/, '').toLowerCase()) return;
    throw loopError(this.o, stage, `${this.peer}:${this.o.port} ${how} with our own hostname ${this.o.heloName}`, r);
  }

  private warn(text: string): void {
    this.warnings.push(text);
    this.o.log?.warn(text, { host: this.o.host, port: this.o.port });
  }

  private attach(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.setTimeout(stageTimeout(this.o, this.stage));
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('timeout', () => this.onTimeout());
    socket.on('error', (e) => this.fail(new SmtpClientError('transaction', `connection to ${this.o.host}:${this.o.port}: ${e.message}`, undefined, true)));
    socket.on('close', () => this.fail(new SmtpClientError('transaction', `connection to ${this.o.host}:${this.o.port} closed`, undefined, true)));
  }

  private onTimeout(): void {
    const waited = this.waitingForDataDone ? `${this.dataDoneTimeout} ms (data_done_timeout) after the final dot`
      : `${stageTimeout(this.o, this.stage)} ms, waiting for ${STAGE_WAITS[this.stage]}`;
    this.fail(new SmtpClientError('transaction', `no answer from ${this.o.host}:${this.o.port} within ${waited}`, undefined, true));
  }

  private onData(d: Buffer): void {
    this.buffer += d.toString('latin1');
    // Only the new bytes are searched for a line end: a server that never ends its line would otherwise make each
    // chunk rescan everything before it.
    let from = this.scanned;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n', from)) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      from = 0;
      const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!m) { this.fail(new SmtpClientError('transaction', `not an SMTP reply from ${this.o.host}: ${line.slice(0, 200)}`, undefined, true)); return; }
      this.partial.push(m[3]);
      if (this.partial.length > MAX_REPLY_LINES) { this.fail(this.tooLong(`more than ${MAX_REPLY_LINES} lines`)); return; }
      if (m[2] === '-') continue;
      const reply = { code: Number(m[1]), text: this.partial.join('\n') };
      this.partial = [];
      const w = this.waiting.shift();
      if (w) w.resolve(reply);
      // A reply nobody asked for while the connection waits in the pool: the server is closing it (421 timeout).
      else if (this.pooled) this.fail(new SmtpClientError('transaction', 'idle connection closed by the server', reply, true, this.peer));
      else this.replies.push(reply);
    }
    this.scanned = this.buffer.length;
    if (this.scanned > MAX_REPLY_LINE) this.fail(this.tooLong(`a line of more than ${MAX_REPLY_LINE} bytes`));
  }

  private tooLong(what: string): SmtpClientError {
    return new SmtpClientError('transaction', `${this.o.host} sent a reply with ${what}`, undefined, true);
  }

  private fail(e: Error): void {
    this.closed = true;
    this.failure ??= e;
    this.socket.destroy();
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  private read(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private write(data: string | Buffer): boolean {
    if (this.failure) throw this.failure;
    return this.socket.write(data);
  }

  /** The next reply or progress awaited is `stage`'s: its time runs from now. */
  private expect(stage: Stage): void {
    this.stage = stage;
    this.socket.setTimeout(stageTimeout(this.o, stage));
  }

  /**
   * A 421 ends the session (RFC 5321 §3.8): the server closes after it, so the replies it owed after it never come.
   * The 421 is then the reason for every recipient of the transaction, with the command it answered, as Postfix logs
   * `said: 421 … (in reply to RCPT TO command)`, not the closed connection that follows it.
   */
  private unlessClosing(r: Reply, command: string): Reply {
    if (r.code !== 421) return r;
    const e = new SmtpClientError('transaction', `${this.peer} ended the session`, r, false, this.peer);
    e.inReplyTo = command;
    throw e;
  }

  /** Sends `line` and reads its reply within `wait`'s time; a failure is reported at `stage`. */
  private async command(line: string, stage: SmtpClientError['stage'], wait: Stage): Promise<Reply> {
    this.expect(wait);
    this.write(`${line}\r\n`);
    try { return await this.read(); } catch (e) { throw restage(e, stage); }
  }

  private async setup(): Promise<void> {
    let greeting: Reply;
    this.expect('greeting');
    try { greeting = await this.read(); } catch (e) { throw restage(e, 'greeting'); }
    if (greeting.code !== 220) throw new SmtpClientError('greeting', 'greeting refused', greeting, false, this.peer);
    this.refuseOwnName('greeting', greeting, 'greeted us');
    await this.hello();
    if (!this.secure && this.o.starttls !== 'off' && !this.tlsFailed && this.extensions.has('STARTTLS')) {
      const r = await this.command('STARTTLS', 'tls', 'starttls');
      if (r.code !== 220) {
        if (this.o.starttls === 'required') throw new SmtpClientError('tls', 'STARTTLS refused', r, false, this.peer);
      } else {
        await this.upgrade();
        await this.hello();
      }
    }
    if (!this.secure && this.o.starttls === 'required') throw new SmtpClientError('tls', `${this.o.host} does not offer STARTTLS, and the route requires TLS`);
    if (this.o.user !== undefined) await this.authenticate();
  }

  private async hello(): Promise<void> {
    let r = await this.command(`EHLO ${this.o.heloName}`, 'ehlo', 'helo');
    // The server closes after a 421: a HELO would only meet the closed connection and lose its reply.
    if (r.code === 421) throw new SmtpClientError('ehlo', 'EHLO refused', r, false, this.peer);
    if (r.code === 250) this.refuseOwnName('ehlo', r, 'answered EHLO');
    if (r.code !== 250) {
      r = await this.command(`HELO ${this.o.heloName}`, 'ehlo', 'helo');
      if (r.code !== 250) throw new SmtpClientError('ehlo', 'EHLO and HELO refused', r, false, this.peer);
      this.refuseOwnName('ehlo', r, 'answered HELO');
      this.extensions = new Set();
      this.authMechanisms = new Set();
      this.sizeLimit = 0;
      return;
    }
    const lines = r.text.split('\n').slice(1);
    this.extensions = new Set(lines.map((l) => l.split(' ')[0].toUpperCase()));
    const sizeLine = lines.find((l) => /^SIZE\s+\d+/i.test(l));
    this.sizeLimit = sizeLine ? Number(sizeLine.split(/\s+/)[1]) : 0;
    // Old servers also list their mechanisms as `AUTH=…`, some on both kinds of line.
    this.authMechanisms = new Set(lines.filter((l) => /^AUTH[ =]/i.test(l)).flatMap((l) => l.slice(5).toUpperCase().split(/\s+/)).filter(Boolean));
  }

  private async upgrade(): Promise<void> {
    // First, as it may read a file: what arrives meanwhile is discarded below with the rest.
    let secureContext: tls.SecureContext;
    try { secureContext = await trustContext(this.o.tlsCaFile); } catch (e) { throw new SmtpClientError('tls', `TLS with ${this.o.host}: ${(e as Error).message}`); }
    // Whatever came after the 220 in plaintext is discarded (RFC 3207 §4.2, Postfix's fix for CVE-2011-0411): a
    // man in the middle could otherwise queue replies that would be read as the TLS server's answers to our commands.
    this.replies.length = 0;
    this.partial = [];
    this.buffer = '';
    this.scanned = 0;
    // Something that is no reply at all right behind the 220 has failed the connection already.
    if (this.failure) throw restage(this.failure, 'tls');
    const plain = this.socket;
    plain.removeAllListeners('data').removeAllListeners('timeout').removeAllListeners('error').removeAllListeners('close');
    this.socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const fail = (why: string) => { clearTimeout(timer); s.destroy(); reject(new SmtpClientError('tls', `TLS with ${this.o.host}: ${why}`, undefined, true)); };
      // A timer of its own, and the close: a peer that hangs up mid-handshake emits no error, and a socket timeout
      // on a wrapped socket that is gone never fires; either left the session waiting for ever.
      const ms = stageTimeout(this.o, 'starttls');
      const timer = setTimeout(() => fail(`no handshake within ${ms} ms`), ms);
      const s = tls.connect({ socket: plain, secureContext, ...identityOptions(this.o.host, this.o.servername), rejectUnauthorized: enforcesCertificate(this.o) }, () => {
        clearTimeout(timer);
        s.off('close', closed);
        resolve(s);
      });
      const closed = () => fail('connection closed during the handshake');
      s.once('error', (e) => fail(tlsErrorText(e, this.o)));
      s.once('close', closed);
    });
    this.attach(this.socket);
  }

  private async authenticate(): Promise<void> {
    const host = this.o.host;
    // Postfix with smtp_sasl_auth_enable does the same: a server that does not offer AUTH gets the mail without it.
    // Sending credentials to it anyway would hand them to whoever answers (or strips AUTH from the EHLO reply).
    if (this.authMechanisms.size === 0) {
      this.warn(`${host} does not offer AUTH${this.secure ? '' : ' (no TLS)'}: credentials not sent, this session delivers without authentication`);
      this.withoutConfiguredAuth = true;
      return;
    }
    // Credentials never cross an unencrypted connection, whatever the route says about TLS.
    if (!this.secure) throw new SmtpClientError('auth', `not sending credentials to ${host} without TLS`);
    const user = this.o.user ?? '', pass = this.o.pass ?? '';
    let r: Reply;
    if (this.authMechanisms.has('PLAIN')) {
      r = await this.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`, 'auth', 'auth');
    } else if (!this.authMechanisms.has('LOGIN')) {
      throw new SmtpClientError('auth', `${host} offers AUTH ${[...this.authMechanisms].join(' ')}, but neither PLAIN nor LOGIN`);
    } else {
      r = await this.command('AUTH LOGIN', 'auth', 'auth');
      if (r.code === 334) r = await this.command(Buffer.from(user).toString('base64'), 'auth', 'auth');
      if (r.code === 334) r = await this.command(Buffer.from(pass).toString('base64'), 'auth', 'auth');
    }
    if (r.code !== 235) throw new SmtpClientError('auth', `SASL authentication as ${user} refused`, r, false, this.peer);
    this.authenticated = true;
  }

  /**
   * One transaction. Throws SmtpClientError only when the connection failed; refusals come back as replies.
   * What the server announced it cannot take (SIZE, addresses beyond ASCII without SMTPUTF8) is refused here,
   * as Postfix does, without sending it.
   */
  /**
   * Asks about one recipient without a message, as Postfix's address verification does: MAIL FROM, then RCPT TO only
   * when MAIL was taken, then RSET. DATA is never sent, so nothing can be delivered.
   */
  async verify(from: string, recipient: string, opts: { smtputf8?: boolean } = {}): Promise<{ mail: Reply; rcpt?: Reply }> {
    // As a delivery would send them: to a server without SMTPUTF8, a domain beyond ASCII in its A-labels.
    const onWire = (a: string) => (this.extensions.has('SMTPUTF8') ? a : aLabelAddress(a) ?? a);
    const mail = await this.command(`MAIL FROM:<${onWire(from)}>${opts.smtputf8 ? ' SMTPUTF8' : ''}`, 'transaction', 'mail');
    if (mail.code >= 300) return { mail };
    const rcpt = await this.command(`RCPT TO:<${onWire(recipient)}>`, 'transaction', 'rcpt');
    await this.command('RSET', 'transaction', 'rset');
    return { mail, rcpt };
  }

  async send(from: string, recipients: string[], message: Readable, size: number, opts: SendOptions = {}): Promise<TransactionResult> {
    const t = await this.sendAsIs(from, recipients, message, size, opts);
    if (!this.withoutConfiguredAuth) return t;
    // A server that hid AUTH (a broken STARTTLS, a man in the middle stripping it) refuses relaying to a session that
    // did not log in: a refusal that says so (530, or a 5.7.x security or policy status such as 5.7.1 relay denied) is
    // about our session, not the message, so it is retried rather than bounced. A 5.1.1 unknown user still bounces.
    const aboutAuth = (r: Reply) => r.code === 530 || (r.code >= 500 && r.code < 600 && /\b5\.7\.\d+|\brelay/i.test(r.text));
    const soften = (r: Reply): Reply => (aboutAuth(r) ? { code: 451, text: `4.7.0 refused while delivering without AUTH, which ${this.o.host} did not offer: ${r.code} ${r.text}` } : r);
    return { ...t, mail: soften(t.mail), rcpt: t.rcpt.map(soften), data: t.data && soften(t.data) };
  }

  private async sendAsIs(from: string, recipients: string[], message: Readable, size: number, opts: SendOptions): Promise<TransactionResult> {
    const tooBig = this.sizeRefusal(size);
    if (tooBig) { message.destroy(); return { mail: tooBig, rcpt: recipients.map(() => tooBig) }; }
    const utf8 = this.extensions.has('SMTPUTF8');
    // Without SMTPUTF8 an address still goes when only its domain is beyond ASCII, the domain in A-labels
    // (`taro@例え.jp` as `taro@xn--r8jz45g.jp`): RFC 6531 §3.2 forbids downgrading a local part, not a domain.
    const wire = (a: string) => (utf8 ? a : aLabelAddress(a));
    if (wire(from) === undefined) {
      const refused = needsSmtputf8('sender');
      message.destroy();
      return { mail: refused, rcpt: recipients.map(() => refused) };
    }
    const onWire = (a: string) => wire(a) ?? a;
    const sendable = recipients.filter((a) => wire(a) !== undefined);
    if (opts.utf8Headers && !utf8) {
      // Each recipient is told what kept it back: its own address first, else the message's header fields.
      const refused = smtputf8Required(this.peer);
      message.destroy();
      return { mail: refused, rcpt: recipients.map((a) => (wire(a) === undefined ? needsSmtputf8('recipient') : refused)) };
    }
    if (sendable.length === recipients.length) return this.transact(from, recipients, message, size, opts, onWire);
    if (sendable.length === 0) { message.destroy(); return { mail: needsSmtputf8('recipient'), rcpt: recipients.map(() => needsSmtputf8('recipient')) }; }
    const t = await this.transact(from, sendable, message, size, opts, onWire);
    const sentReply = new Map(sendable.map((a, i) => [a, t.rcpt[i]]));
    return { ...t, rcpt: recipients.map((a) => sentReply.get(a) ?? needsSmtputf8('recipient')) };
  }

  /** A permanent refusal when the server announced a size limit the message exceeds (RFC 1870). */
  private sizeRefusal(size: number): Reply | undefined {
    const limit = this.sizeLimit;
    if (limit > 0 && size > limit) return { code: 552, text: `5.3.4 message size ${size} exceeds the limit of ${limit} bytes of ${this.o.host}` };
    return undefined;
  }

  /** `onWire`: each address as the server is sent it (the caller's are the queue's, which DSN requests are kept under). */
  private async transact(from: string, recipients: string[], message: Readable, size: number, opts: SendOptions, onWire: (address: string) => string): Promise<TransactionResult> {
    let params = this.extensions.has('SIZE') ? ` SIZE=${size}` : '';
    // Declaring 8BITMIME is harmless for 7-bit mail and keeps 8-bit mail legal where the server takes it (RFC 6152).
    // A server without it gets 8-bit mail converted to 7-bit MIME first (SmtpRelay, seven-bit-downgrade.ts).
    if (this.extensions.has('8BITMIME')) params += ' BODY=8BITMIME';
    // An address beyond ASCII needs the server's SMTPUTF8 (RFC 6531); without it the server refuses the address. A
    // message the client sent with SMTPUTF8 keeps the flag too, for its UTF-8 headers. A server without it still
    // gets mail with ASCII addresses and ASCII header fields, as Postfix sends it (UTF-8 ones: sendAsIs refuses).
    const needsUtf8 = opts.smtputf8 || [from, ...recipients].some((a) => !isAscii(a));
    if (this.extensions.has('SMTPUTF8') && needsUtf8) params += ' SMTPUTF8';
    // A server without DSN would refuse the parameters (555); the relay sends the notices it then owes itself.
    const dsn = this.extensions.has('DSN') ? opts.dsn : undefined;
    params += mailDsnParams(dsn);
    const mailLine = `MAIL FROM:<${onWire(from)}>${params}`;
    const rcptLines = recipients.map((a) => `RCPT TO:<${onWire(a)}>${rcptDsnParams(dsn?.recipients?.get(a))}`);
    let mail: Reply | undefined;
    const rcpt: Reply[] = [];
    let dataReply: Reply;
    try {
      // Inside the try: a pooled connection the server dropped fails here, before any reply of this transaction.
      if (!this.clean) {
        const r = this.unlessClosing(await this.command('RSET', 'transaction', 'rset'), 'RSET');
        if (r.code !== 250) throw new SmtpClientError('transaction', 'RSET refused', r, true, this.peer);
        this.clean = true;
      }
      this.clean = false;
      this.endOfDataWritten = false;
      if (this.extensions.has('PIPELINING')) {
        // Each reply gets its own stage's time from the one before it, as if the commands had gone one by one.
        this.expect('mail');
        this.write([mailLine, ...rcptLines, 'DATA', ''].join('\r\n'));
        mail = this.unlessClosing(await this.read(), 'MAIL FROM');
        for (let i = 0; i < recipients.length; i++) { this.expect('rcpt'); rcpt.push(this.unlessClosing(await this.read(), 'RCPT TO')); }
        this.expect('data');
        dataReply = this.unlessClosing(await this.read(), 'DATA');
      } else {
        mail = this.unlessClosing(await this.command(mailLine, 'transaction', 'mail'), 'MAIL FROM');
        const refused = mail;
        if (refused.code >= 300) return { mail: refused, rcpt: recipients.map(() => refused) };
        for (const line of rcptLines) rcpt.push(this.unlessClosing(await this.command(line, 'transaction', 'rcpt'), 'RCPT TO'));
        if (!rcpt.some((r) => r.code < 300)) return { mail, rcpt };
        dataReply = this.unlessClosing(await this.command('DATA', 'transaction', 'data'), 'DATA');
      }
      const m = mail;
      const anyRecipient = m.code < 300 && rcpt.some((r) => r.code < 300);
      // A refused MAIL FROM is every recipient's answer (their own replies are then only "need MAIL first").
      const perRecipient = m.code < 300 ? rcpt : recipients.map(() => m);
      if (dataReply.code !== 354) return { mail: m, rcpt: perRecipient, data: anyRecipient ? unexpectedDataReply(dataReply) : undefined };
      if (!anyRecipient) {
        // RFC 2920: a server that said 354 with no recipient gets an empty message, which it must refuse.
        this.expect('data');
        this.write(DOT_CRLF);
        await this.read();
        return { mail: m, rcpt: perRecipient };
      }
      await this.writeBody(message);
      const data = this.unlessClosing(await this.dataDone(), 'end of DATA');
      this.clean = true;
      return { mail, rcpt, data };
    } catch (e) {
      const err = restage(e, 'transaction');
      if (!mail && err instanceof SmtpClientError) err.beforeReply = true;
      if (this.endOfDataWritten && err instanceof SmtpClientError) err.afterEndOfData = true;
      throw err;
    } finally {
      // Read to its end, refused before DATA, or failed: the message's file is let go either way.
      message.destroy();
    }
  }

  private get dataDoneTimeout(): number { return this.o.dataDoneTimeout ?? DATA_DONE_TIMEOUT_MS; }

  /**
   * The reply to the final dot, waited for as long as data_done_timeout (Postfix's smtp_data_done_timeout): a server
   * may scan the message before it answers, and giving up on it after the command timeout sent the message again to
   * a server that had taken it.
   */
  private async dataDone(): Promise<Reply> {
    this.waitingForDataDone = true;
    this.socket.setTimeout(this.dataDoneTimeout);
    try {
      return await this.read();
    } finally {
      this.waitingForDataDone = false;
      if (!this.closed) this.expect('mail');
    }
  }

  private async writeBody(message: Readable): Promise<void> {
    let atLineStart = true;
    let last2: Buffer = Buffer.alloc(0);
    // Here, on the wire's side of everything else: a line is broken only after a 7-bit conversion for a next hop
    // without 8BITMIME, which makes its own short lines and must read the text unbroken.
    const lines = new LineLengthLimit();
    this.expect('body');
    // Corked: a small message and its final dot leave in one writev, not a system call per chunk.
    this.socket.cork();
    try {
      for await (const c of message) {
        const chunk = lines.push(c as Buffer);
        if (chunk.length === 0) continue;
        const out = dotStuff(chunk, atLineStart);
        atLineStart = chunk[chunk.length - 1] === 0x0a;
        last2 = chunk.length >= 2 ? chunk.subarray(chunk.length - 2) : Buffer.concat([last2, chunk]).subarray(-2);
        if (!this.write(out)) { this.socket.uncork(); await this.drained(); this.socket.cork(); }
      }
      if (this.failure) throw this.failure;
      // Known written only once the socket took it: the body before it may still sit in our buffer when the server
      // hangs up, and a label of "end of data" would then claim a duplicate risk there is not.
      this.socket.write(last2.equals(CRLF) ? DOT_CRLF : Buffer.concat([CRLF, DOT_CRLF]), (err) => { if (!err) this.endOfDataWritten = true; });
    } finally { this.socket.uncork(); }
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) { reject(this.failure); return; }
      const s = this.socket;
      const done = (err?: Error) => { s.off('drain', ok); s.off('close', gone); if (err) reject(err); else resolve(); };
      const ok = () => done();
      const gone = () => done(this.failure ?? new SmtpClientError('transaction', 'connection closed', undefined, true));
      s.once('drain', ok);
      s.once('close', gone);
    });
  }

  /** Ends the session politely (QUIT) without waiting long for the answer. */
  async quit(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.write('QUIT\r\n');
      await Promise.race([this.read().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    } catch { /* gone already */ }
    this.destroy();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** Ends the session now, whatever it waits for: what it waits for fails with `why`, as on a lost connection. */
  cutOff(why: string): void {
    this.fail(new SmtpClientError('transaction', why, undefined, true));
  }

  /** The connection waits in the pool: `onIdle` after `ms` without use. */
  idle(ms: number, onIdle: () => void): void {
    this.pooled = true;
    this.socket.removeAllListeners('timeout');
    this.socket.setTimeout(ms, onIdle);
  }

  /** Taken from the pool for a transaction. */
  busy(): void {
    this.pooled = false;
    this.socket.removeAllListeners('timeout');
    this.socket.on('timeout', () => this.onTimeout());
    this.expect('mail');
  }
}


/** Postfix's answer when an address needs SMTPUTF8 and the server lacks it (RFC 6531 §3.2). */
function needsSmtputf8(who: 'sender' | 'recipient'): Reply {
  return { code: 553, text: `5.6.7 the ${who} address is beyond ASCII and the server does not offer SMTPUTF8` };
}

/**
 * Postfix's words when a message's header fields need SMTPUTF8 and the server lacks it. 554, not 553: 553 is about
 * a mailbox name, and here every address is one the server could take; what it cannot take is the message.
 */
function smtputf8Required(host: string): Reply {
  return { code: 554, text: `5.6.7 SMTPUTF8 is required, but was not offered by host ${host}` };
}

/**
 * DATA must be answered with 354: anything else ends the transaction. A 2xx there would otherwise count as delivery
 * of a body that was never sent, so it becomes a temporary failure.
 */
function unexpectedDataReply(r: Reply): Reply {
  if (r.code >= 400 && r.code < 600) return r;
  return { code: 451, text: `4.5.0 unexpected reply to DATA: ${r.code} ${r.text}` };
}

/**
 * Whether a certificate that fails verification ends the session. Opportunistic STARTTLS takes any certificate, as
 * Postfix's `may` does: whoever can present a false one could as well strip STARTTLS from the EHLO reply, and
 * refusing it would only hold mail for a host that would get it in plaintext if it offered no TLS at all. Not when
 * credentials are configured: a false certificate would be all it takes to collect them (tls_verify: false allows it).
 */
function enforcesCertificate(o: ClientOptions): boolean {
  return o.tlsVerify && (o.secure || o.starttls !== 'opportunistic' || o.user !== undefined);
}

/** A TLS error as the log line gives it, with what to change for a certificate no trusted CA vouches for (tls-trust.ts). */
const tlsErrorText = (e: Error, o: ClientOptions): string => certificateText(e, o.tlsCaFile);

/** The next hop is the gateway itself: logged once here, and failed for good by the relay (5.4.6). */
function loopError(o: ClientOptions, stage: SmtpClientError['stage'], why: string, reply?: Reply): SmtpClientError {
  o.log?.error(`mail loop: ${why}`, { host: o.host, port: o.port });
  const e = new SmtpClientError(stage, `mail loop: ${why}`, reply, false, o.host);
  e.loopsBack = true;
  return e;
}

function restage(e: unknown, stage: SmtpClientError['stage']): Error {
  if (e instanceof SmtpClientError && e.stage === 'transaction' && stage !== 'transaction') return new SmtpClientError(stage, e.message, e.reply, e.network, e.server);
  return e as Error;
}

async function connectSocket(o: ClientOptions, cutOff?: AbortSignal): Promise<net.Socket> {
  let secureContext: tls.SecureContext | undefined;
  if (o.secure) {
    try { secureContext = await trustContext(o.tlsCaFile); } catch (e) { throw new SmtpClientError('connect', `TLS with ${o.host}: ${(e as Error).message}`); }
  }
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => { cutOff?.removeEventListener('abort', onCut); socket.destroy(); reject(new SmtpClientError('connect', `cannot connect to ${o.host}:${o.port}: ${tlsErrorText(e, o)}`, undefined, true)); };
    const onCut = () => onError(new Error('cut off: the gateway is stopping'));
    const connected = () => { cutOff?.removeEventListener('abort', onCut); socket.off('error', onError); socket.setTimeout(0); resolve(socket); };
    const socket: net.Socket = o.secure
      ? tls.connect({ host: o.host, port: o.port, secureContext, ...identityOptions(o.host, o.servername), rejectUnauthorized: o.tlsVerify }, connected)
      : net.connect({ host: o.host, port: o.port }, connected);
    socket.once('error', onError);
    const ms = stageTimeout(o, 'connect');
    socket.setTimeout(ms, () => onError(new Error(`no connection within ${ms} ms`)));
    if (cutOff?.aborted) onCut(); else cutOff?.addEventListener('abort', onCut, { once: true });
  });
}

// The SMTP session's decisions: connection policy, relay control, hooks per phase, and the reply for each outcome.
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Address, ListenerKind } from '../hooks/context.ts';
import { isBlockedRecipient, type Runtime } from '../runtime.ts';
import type { CommandReply, ConnectionHooks, GreetingDecision, RawConnection } from './patches.ts';
import { actsAsClient } from './proxy-own-checks.ts';
import { proxyOf } from './proxy-reader.ts';
import type { PipeliningViolation } from './pipelining-guard.ts';
import type { CommandHookName } from '../hooks/hook-names.ts';
import { chainHooks, commandReply, parseCommand } from './command-hooks.ts';
import { Transaction, type SessionState } from '../hooks/transaction.ts';
import { runHook } from '../hooks/runner.ts';
import { toAddress, forbiddenRecipientForm } from './address-policy.ts';
import { isPostmaster, mailboxAtOwnLiteral } from './address-literal.ts';
import { blockedRecipientRefusal, recipientRefusal, senderRefusal } from './envelope-access.ts';
import { thresholdSplit } from './recipient-thresholds.ts';
import { heloDenied, heloRefusal, noteHeloName } from './helo-policy.ts';
import { replyFor, smtpError, type Reply } from './reply.ts';
import net from 'node:net';
import { normalizeIp } from '../net/cidr.ts';
import { connectionCaps } from './connection-limits.ts';
import { newQueueId } from '../queue/queue-id.ts';
import { receiveMessage } from './message-intake.ts';
import { asciiDomain, isAscii } from '../text/ascii.ts';
import { takeEnvelopeAddress } from './address-intake.ts';
import { mailboxKey } from '../lists/address-matcher.ts';
import { holdsMailbox } from './recipient-keys.ts';
import { parseMailDsn, parseRcptDsn } from '../queue/dsn-params.ts';
import { envelopeParamsProblem, offeredParams, type EnvelopeVerb } from './envelope-params.ts';
import { loggedUser, refusalFields, tlsFields } from './session-log-fields.ts';
import { countsAsError, repeatsCountedCause } from './limits-errors.ts';
import { followsOwnTroubleRefusal, noteMailReply } from './limits-own-refusals.ts';
import { JUNK_REFUSAL, isJunkVerb } from './limits-junk.ts';
import { overshootCounts } from './limits-overshoot.ts';
import { RepeatedRefusals } from './session-log-repeats.ts';
import { TurnsFull } from '../auth/fair-turns.ts';
import { senderLoginRefusal } from './sender-login.ts';
import { takeRate } from './user-rates.ts';
import { recipientRefusalReason } from '../metrics.ts';

type Cb = (err?: Error | null) => void;

/** What follows the refusal that reached limits.max_errors (limits-errors-close.ts); the connection is closed after it. */
const TOO_MANY_ERRORS: CommandReply = { code: 421, text: '4.7.0 Too many errors, closing connection', close: true };

/**
 * smtp-server gives the envelope a `dsn` record only when it advertises DSN (its hideDSN option), so this follows the
 * EHLO reply the client saw: a client told nothing of DSN still gets 555 for its parameters.
 */
function dsnOffered(session: SMTPServerSession): boolean {
  return !!(session.envelope as { dsn?: unknown }).dsn;
}

const badDsn = (why: string) => smtpError(501, '5.5.4', why);

export class SessionHandler implements ConnectionHooks {
  private readonly rt: Runtime;
  readonly listener: ListenerKind;
  private readonly sessions = new Map<string, SessionState>();
  private readonly txs = new Map<string, Transaction>();
  /** Sessions of a trusted proxy whose connect checks its greeting put off (onGreeting). */
  private readonly checksOwed = new Set<string>();
  /** Sessions the idle timeout ended, with the state it found them in (`RCPT`), for their closing line. */
  private readonly timeouts = new Map<string, string>();
  /** Sessions smtp-server dropped itself, with the reason, for their closing line. */
  private readonly drops = new Map<string, string>();
  /** An implicit-TLS session's `tls established` line, held until its `connect` line is written. */
  private readonly tlsLines = new Map<string, Record<string, unknown>>();
  /** NOOP, VRFY, ETRN, RSET and HELP each session sent since it connected or last had a message taken (limits.max_junk_commands). */
  private readonly junk = new Map<string, number>();
  /** Refusals each session repeated word for word, logged the first few times only (session-log-repeats.ts). */
  private readonly repeats = new RepeatedRefusals();
  /**
   * Errors each session made since it connected or last had a message taken, which limits.max_errors counts: a
   * message taken forgives the errors before it, as Postfix's smtpd sets its error count back to 0 (the session's
   * `errors` keep every one, for its closing line).
   */
  private readonly errorsToLimit = new Map<string, number>();
  /** Sessions that reached limits.max_errors: the refusal that did is followed by TOO_MANY_ERRORS (countError). */
  private readonly overErrorLimit = new Set<string>();

  constructor(rt: Runtime, listener: ListenerKind) {
    this.rt = rt;
    this.listener = listener;
  }

  private log(sessionId: string) { return this.rt.log.child({ cid: sessionId }); }

  /** Ends the connection once the reply just given is on its way, as Haraka does after DENYDISCONNECT. */
  private closeAfterReply(sessionId: string): void {
    const close = this.sessions.get(sessionId)?.closeConnection;
    // smtp-server ends a connection only after a 421; this lets the reply just given go out first.
    if (close) setImmediate(close);
  }

  private socketIp(st: SessionState): string { return (st as unknown as { socketIp: string }).socketIp; }
  private setSocketIp(st: SessionState, ip: string): void { (st as unknown as { socketIp: string }).socketIp = ip; }
  private peerIp(st: SessionState): string { return (st as unknown as { peerIp: string }).peerIp; }

  /** The connect line's fields: the client, and the proxy it came through (by a PROXY header, or named by XCLIENT). */
  private connectFields(st: SessionState): Record<string, unknown> {
    const proxy = proxyOf(st.id) ?? (st.remote.ip !== this.peerIp(st) ? this.peerIp(st) : undefined);
    return { client: st.remote.ip, port: st.remote.port, listener: this.listener, tls: st.tls, ...(proxy ? { proxy } : {}) };
  }

  isTrustedProxy(ip: string): boolean { return this.rt.policy.trustedProxies.has(ip); }
  greetingDelay(): number { return this.rt.config.server.greeting_delay; }

  // ── connection ──────────────────────────────────────────────────────────────
  onConnect = (session: SMTPServerSession, cb: Cb): void => {
    const ip = normalizeIp(session.remoteAddress);
    const tooFast = this.rt.connections.rates.take(this.rt, ip, 'connection');
    if (tooFast) {
      this.rt.connections.refusalLog.refused(this.rt.log, ip, this.rt.connections.rateRefusal(ip, tooFast), { cid: session.id, listener: this.listener });
      this.rt.metrics.inc('connections_refused');
      return cb(smtpError(421, '4.7.0', tooFast.text));
    }
    const refused = this.rt.connections.tryOpen(ip, connectionCaps(this.rt, ip));
    if (refused) {
      this.rt.connections.refusalLog.refused(this.rt.log, ip, refused, { listener: this.listener });
      this.rt.metrics.inc('connections_refused');
      return cb(smtpError(421, '4.7.0', refused.text));
    }
    this.sessions.set(session.id, {
      id: session.id, remote: { ip, port: session.remotePort }, local: { ip: normalizeIp(session.localAddress), port: session.localPort },
      listener: this.listener, tls: session.secure, relayNetwork: false, trusted: false, allowlisted: false,
      greetingName: this.rt.hostname, pluginState: new Map(), errors: 0, transactions: 0, startedAt: Date.now(),
      // The address the connection is counted under: the socket's, then the client's once XCLIENT names it; and the
      // peer's own, which XCLIENT never changes (the proxy a login through XCLIENT came from).
      ...({ socketIp: ip, peerIp: ip } as object),
    } as SessionState);
    this.rt.metrics.inc('connections');
    cb();
  };

  onClose = (session: SMTPServerSession): void => {
    const st = this.sessions.get(session.id);
    if (!st) return;
    this.sessions.delete(session.id);
    this.txs.delete(session.id);
    const neverChecked = this.checksOwed.delete(session.id);
    const timeout = this.timeouts.get(session.id);
    this.timeouts.delete(session.id);
    const dropped = this.drops.get(session.id);
    this.drops.delete(session.id);
    this.tlsLines.delete(session.id);
    this.junk.delete(session.id);
    this.errorsToLimit.delete(session.id);
    this.overErrorLimit.delete(session.id);
    const unlogged = this.repeats.end(session.id);
    this.rt.connections.close(this.socketIp(st));
    if (chainHooks(this.rt.plugins).has('disconnect')) {
      void runHook(this.rt.plugins, { hook: 'disconnect', session: st, log: this.log(st.id), services: this.rt.services });
    }
    // At info, as Postfix logs each disconnect: the connection's end and its counts, findable by its cid. A trusted
    // proxy's session that neither named a client nor acted as one (a health check: HAProxy's smtpchk, a PROXY v2
    // LOCAL) ran no checks and wrote no connect line yet: both go at debug, unless the gateway ended it.
    const level = neverChecked && !timeout && !dropped ? 'debug' : 'info';
    if (neverChecked) this.log(st.id)[level]('connect', this.connectFields(st));
    this.log(st.id)[level]('connection closed', { client: st.remote.ip, transactions: st.transactions, error_count: st.errors, ...(timeout ? { reason: `timeout after ${timeout}` } : dropped ? { reason: dropped } : {}), ...(unlogged ? { refusals_not_logged: unlogged } : {}) });
  };

  private refreshIdentity(st: SessionState, conn: { remoteAddress: string; clientHostname: string; secure: boolean }) {
    const ip = normalizeIp(conn.remoteAddress);
    // A name a plugin verified is the address's: it stays through a new EHLO, not once XCLIENT names another client.
    const verifiedName = ip === st.remote.ip ? st.remote.verifiedName : undefined;
    st.remote = { ip, port: st.remote.port, hostname: conn.clientHostname && !conn.clientHostname.startsWith('[') ? conn.clientHostname : undefined, ...(verifiedName ? { verifiedName } : {}) };
    st.tls = conn.secure;
    const p = this.rt.policy;
    st.relayNetwork = p.relay.has(ip);
    st.trusted = st.relayNetwork || !!st.user;
    st.allowlisted = p.allow.has(ip);
  }

  async onGreeting(conn: RawConnection): Promise<GreetingDecision> {
    const st = this.sessions.get(conn.id);
    if (!st) return { kind: 'greet' };
    st.closeConnection = () => conn.close();
    // Counted down as the client sees the connection end, not at onClose, which comes a turn or more later.
    this.rt.connections.closeWhenEnded(conn, () => { const ip = this.socketIp(st); this.setSocketIp(st, ''); return ip; });
    // smtp-server took the name when it accepted the socket, up to greeting_delay before onConnect: a reload in
    // between must not make the Received line disagree with the greeting.
    st.greetingName = (conn as RawConnection & { name?: string }).name || st.greetingName;
    // XCLIENT sets or clears the login (LOGIN=, and ADDR= hands the session to a client who is nobody yet): the
    // session's user follows smtp-server's, or a client named after the proxy's own login would relay as that user.
    const user = conn.session.user;
    st.user = typeof user === 'string' && user ? user : undefined;
    // smtp-server renames the client on XCLIENT NAME= only: after ADDR= alone, EHLO would greet the proxy's address.
    if (conn._xClient.has('ADDR') && conn.clientHostname.startsWith('[')) conn.clientHostname = `[${conn.remoteAddress}]`;
    this.refreshIdentity(st, conn);
    st.rejected = undefined;
    // A trusted proxy that is about to name the real client with XCLIENT is not checked yet: the checks judge the
    // client it names, or the proxy itself if it goes on without naming one (connectChecksDue).
    if (conn._xClient.size === 0 && this.isTrustedProxy(conn._originalRemoteAddress) && conn._server.options.useXClient) {
      this.checksOwed.add(st.id);
      this.flushTlsLine(st.id);
      return { kind: 'greet' };
    }
    this.checksOwed.delete(st.id);
    return this.connectChecks(st);
  }

  /**
   * The connect checks a trusted proxy's greeting put off, when its session goes on without XCLIENT at `verb`
   * (proxy-own-checks.ts): they run once, for the proxy's own address, with the outcomes they have at connect.
   * Undefined when nothing is owed.
   */
  connectChecksDue(conn: RawConnection, verb: string): Promise<GreetingDecision> | undefined {
    const st = this.sessions.get(conn.id);
    if (!st || !this.checksOwed.has(st.id) || !actsAsClient(verb)) return undefined;
    this.checksOwed.delete(st.id);
    return this.connectChecks(st, verb);
  }

  /** access.deny_ips, the limits on a client XCLIENT named, and the connect hooks, for the session's client. */
  private async connectChecks(st: SessionState, deferredTo?: string): Promise<GreetingDecision> {
    const log = this.log(st.id);
    log.info('connect', { ...this.connectFields(st), ...(deferredTo ? { checked_at: deferredTo } : {}) });
    this.flushTlsLine(st.id);
    // Every check below would skip an address it cannot read (a blocklist, SPF, deny_ips): such a client is refused,
    // never let through unjudged. smtp-server takes only addresses from PROXY and XCLIENT, so this is a last guard.
    if (!net.isIP(st.remote.ip)) {
      log.warn('client refused: its address is not an IP address', { client: st.remote.ip });
      this.rt.metrics.inc('connections_refused');
      return { kind: 'close', code: 421, text: '4.3.0 Cannot read your address, try again later' };
    }
    // A client named by XCLIENT was not counted (nor checked) under its own address when the proxy connected: a block
    // that limits.error_block put on it would otherwise never apply behind a proxy.
    const blocked = st.remote.ip !== this.socketIp(st) ? this.rt.connections.blockedRefusal(st.remote.ip) : undefined;
    if (blocked) {
      this.rt.connections.refusalLog.refused(this.rt.log, st.remote.ip, blocked, { cid: st.id, proxy: this.peerIp(st) });
      return { kind: 'close', code: 421, text: `4.7.0 ${blocked.text}` };
    }
    // A client XCLIENT names is a new connection of that client's (PROXY's was counted at connect, as a socket's is).
    const tooFast = st.remote.ip !== this.peerIp(st) ? this.rt.connections.rates.take(this.rt, st.remote.ip, 'connection') : undefined;
    if (tooFast) {
      this.rt.connections.refusalLog.refused(this.rt.log, st.remote.ip, this.rt.connections.rateRefusal(st.remote.ip, tooFast), { cid: st.id, proxy: this.peerIp(st) });
      this.rt.metrics.inc('connections_refused');
      return { kind: 'close', code: 421, text: `4.7.0 ${tooFast.text}` };
    }
    // The proxy's sessions were counted under its address until now: each is moved to the client it names, so
    // max_connections_per_ip applies to that client, and a busy proxy is not refused for the sum of its clients.
    if (st.remote.ip !== this.socketIp(st)) {
      this.rt.connections.close(this.socketIp(st));
      const refused = this.rt.connections.tryOpen(st.remote.ip, connectionCaps(this.rt, st.remote.ip));
      this.setSocketIp(st, refused ? '' : st.remote.ip);
      if (refused) {
        this.rt.connections.refusalLog.refused(this.rt.log, st.remote.ip, refused, { cid: st.id, proxy: this.peerIp(st) });
        this.rt.metrics.inc('connections_refused');
        return { kind: 'close', code: 421, text: `4.7.0 ${refused.text}` };
      }
    }
    if (!st.allowlisted && this.rt.policy.deny.has(st.remote.ip)) {
      st.rejected = { code: 554, text: '5.7.1 Your address is not allowed to send mail here' };
      log.info('client refused by access.deny_ips', { client: st.remote.ip });
      this.rt.metrics.inc('connections_refused');
      return { kind: 'reject', ...st.rejected };
    }
    const r = await runHook(this.rt.plugins, { hook: 'connect', session: st, log, services: this.rt.services });
    const o = r.outcome;
    if (o.action === 'continue' || o.action === 'accept') return { kind: 'greet' };
    // A greeting may only be 220, 554 or 421 (RFC 5321 §3.1, §4.2): a plugin's 451 or 550 keeps its enhanced code
    // and text under the code a client understands there, and a temporary refusal always ends the connection.
    // The same codes when the checks were put off to a later command, so a proxy hears what a client would.
    const given = replyFor('connect', o);
    const reply = { code: given.code >= 500 ? 554 : 421, text: given.text };
    log.info('connect refused', { plugin: r.plugin, reply: `${reply.code} ${reply.text}` });
    this.rt.metrics.countRefusal('connect', r.plugin, r.findings, reply.code);
    if (o.action === 'reject') {
      // Later commands of the refused client get the greeting's reply again, every line of it.
      st.rejected = { code: reply.code, text: reply.text };
      return { kind: 'reject', code: reply.code, text: reply.text };
    }
    return { kind: 'close', code: reply.code, text: reply.text };
  }

  envelopeParamsReply(conn: RawConnection, verb: EnvelopeVerb, line: string): CommandReply | undefined {
    const st = this.sessions.get(conn.id);
    const session = conn.session as unknown as SMTPServerSession;
    // A MAIL inside a transaction, or a RCPT outside one, gets smtp-server's 503, whatever its parameters.
    const inTransaction = !!session.envelope.mailFrom;
    if (!st || inTransaction !== (verb === 'RCPT TO')) return undefined;
    // AUTH is listed after TLS only (patches.ts), and not where the listener has it disabled. The opening command is
    // the last greeting accepted: a refused one leaves it (command-rules.ts).
    const offered = { ehlo: conn.openingCommand === 'EHLO', dsn: dsnOffered(session), auth: conn.secure && conn._isSupported('AUTH') };
    const known = offeredParams(verb, offered);
    const problem = envelopeParamsProblem(line, verb, known);
    if (!problem) return undefined;
    this.countError(st);
    return problem;
  }

  rejectingReply(conn: RawConnection, command: string): { code: number; text: string | string[]; close?: boolean } | undefined {
    const st = this.sessions.get(conn.id);
    if (!st) return undefined;
    // The 421 follows the refusal that reached limits.max_errors and closes; should a command still come, it gets
    // the same (a QUIT its 221).
    if (this.overErrorLimit.has(st.id) && command !== 'QUIT') return TOO_MANY_ERRORS;
    const refusal = st.rejected && command !== 'QUIT' ? st.rejected : this.authOffReply(st, command);
    if (!refusal) return undefined;
    // Counted like any refused command, so limits.error_block also keeps a refused client from coming straight back.
    this.countError(st);
    return refusal;
  }

  /**
   * AUTH on `listen` with server.auth_on_listen off (EHLO does not list it there: front-door.ts): Postfix's reply,
   * before any credentials are asked for, where smtp-server would answer 500 as to a command it does not know.
   */
  private authOffReply(st: SessionState, command: string): Reply | undefined {
    if (command !== 'AUTH' || this.listener !== 'smtp' || this.rt.config.server.auth_on_listen) return undefined;
    const reply = { code: 503, text: '5.5.1 Error: authentication not enabled' };
    this.logRefusal(this.log(st.id), st.id, 'AUTH refused: not offered on this listener', { client: st.remote.ip, reply: `${reply.code} ${reply.text}` });
    return reply;
  }

  pipeliningRefused(conn: RawConnection, early: PipeliningViolation): void {
    this.log(conn.id).info('client refused: improper command pipelining', {
      client: normalizeIp(conn.remoteAddress), after: early.after, reason: early.reason, bytes: early.bytes, input: early.excerpt,
    });
    this.rt.metrics.inc('connections_refused');
  }

  timedOut(conn: RawConnection, after: string, reply: string): void {
    if (!this.sessions.has(conn.id)) return;
    this.timeouts.set(conn.id, after);
    // As Postfix logs `timeout after RCPT from …`: the client went quiet while it owed us input.
    this.log(conn.id).info('client timed out', { client: normalizeIp(conn.remoteAddress), after, reply });
  }

  clientDropped(conn: RawConnection, reason: string, reply: string): void {
    if (!this.sessions.has(conn.id) || this.drops.has(conn.id)) return;
    this.drops.set(conn.id, reason);
    // Refused as any client the gateway turns away, with the state it was in, as Postfix's `… after RCPT`.
    this.log(conn.id).info(`client refused: ${reason}`, { client: normalizeIp(conn.remoteAddress), after: conn.lastVerb ?? 'CONNECT', reply });
    this.rt.metrics.inc('connections_refused');
  }

  /** Refuses a command with `err`, counted like every refusal toward limits.max_errors. */
  private refuseCounted(st: SessionState, err: Error, cb: Cb): void {
    this.countError(st);
    cb(err);
  }

  /**
   * Counts a refused command or recipient. The refusal that reaches limits.max_errors still goes out as itself, then
   * TOO_MANY_ERRORS at once (errorLimitReply), as Postfix's smtpd_hard_error_limit answers 421 after it: a 550 5.1.1
   * put in the 421's place would have the client defer the whole message and retry it into the same refusal, where
   * the 550 bounces the one recipient. The block (limits.error_block) starts here.
   */
  private countError(st: SessionState): void {
    st.errors++;
    const errors = (this.errorsToLimit.get(st.id) ?? 0) + 1;
    this.errorsToLimit.set(st.id, errors);
    if (this.overErrorLimit.has(st.id)) return;
    const lim = this.rt.config.limits;
    // Under stress (stress-mode.ts) the first error ends the session, but a client is blocked only at max_errors.
    const stressed = errors < lim.max_errors;
    if (errors < this.rt.connections.stress.limit(lim.max_errors, st.trusted || st.allowlisted)) return;
    this.overErrorLimit.add(st.id);
    // A trusted proxy's own address is never blocked (as it has no per-address connection cap): every client behind
    // it would be refused at the greeting, before it could name itself. The client it names is blocked instead.
    const blockMs = this.isTrustedProxy(st.remote.ip) || stressed ? 0 : lim.error_block;
    if (blockMs > 0) this.rt.connections.block(st.remote.ip, blockMs);
    this.log(st.id).info('too many errors: disconnecting', { client: st.remote.ip, ...this.rt.connections.networkField(st.remote.ip), error_count: errors, blocked_ms: blockMs, ...(stressed ? { stress: true } : {}) });
  }

  async onHelo(conn: RawConnection, hostname: string, verb: 'HELO' | 'EHLO', line: string): Promise<Reply & { close?: boolean } | undefined> {
    const st = this.sessions.get(conn.id);
    if (!st) return undefined;
    const log = this.log(st.id);
    // Before the check: its exemptions (relay.networks, allow_ips, a login) follow the client XCLIENT named.
    this.refreshIdentity(st, conn);
    if (heloDenied(this.rt, st, hostname)) {
      log.info('HELO refused by access.helo_deny', { client: st.remote.ip, helo: hostname });
      return { code: 554, text: '5.7.1 Your HELO name is not allowed here', close: true };
    }
    const verbBefore = st.heloVerb;
    st.helo = hostname.toLowerCase();
    st.heloVerb = verb;
    noteHeloName(st, hostname);
    const r = await runHook(this.rt.plugins, { hook: 'helo', session: st, command: parseCommand(line), log, services: this.rt.services });
    if (r.outcome.action === 'continue' || r.outcome.action === 'accept') return undefined;
    const reply = replyFor('helo', r.outcome);
    st.helo = undefined;
    // The protocol stays the accepted greeting's (the Received field's ESMTP or SMTP), as smtp-server's state does.
    st.heloVerb = verbBefore;
    log.info('HELO refused', { plugin: r.plugin, reply: `${reply.code} ${reply.text}` });
    this.rt.metrics.countRefusal('helo', r.plugin, r.findings, reply.code);
    if (countsAsError(reply.code, reply.text)) this.countError(st);
    return { ...reply, close: r.outcome.action === 'disconnect' };
  }

  wants(hook: 'capabilities' | CommandHookName): boolean { return chainHooks(this.rt.plugins).has(hook); }

  dataTimeout(): number { return this.rt.config.limits.data_timeout; }

  junkCommand(conn: RawConnection, verb: string): CommandReply | undefined {
    const st = this.sessions.get(conn.id);
    if (!isJunkVerb(verb) || !st) return undefined;
    const count = (this.junk.get(conn.id) ?? 0) + 1;
    this.junk.set(conn.id, count);
    // Under stress, as in Postfix, one: a NOOP every few seconds would otherwise outlast stress's shorter idle timeout.
    if (count <= this.rt.connections.stress.limit(this.rt.config.limits.max_junk_commands, st.trusted || st.allowlisted)) return undefined;
    // Logged and counted as smtp-server's own drops are (clientDropped): `client refused: too many junk commands`.
    this.clientDropped(conn, 'too many junk commands', `${JUNK_REFUSAL.code} ${JUNK_REFUSAL.text}`);
    return { ...JUNK_REFUSAL, close: true };
  }

  errorLimitReply(conn: RawConnection): CommandReply | undefined {
    return this.overErrorLimit.has(conn.id) ? TOO_MANY_ERRORS : undefined;
  }

  ownRefusal(conn: RawConnection): void {
    const st = this.sessions.get(conn.id);
    if (!st || followsOwnTroubleRefusal((conn.session as unknown as SMTPServerSession).envelope, conn.lastVerb)) return;
    this.countError(st);
  }

  /** A refusal's line, unless its session already had it word for word LOGGED_REPEATS times (session-log-repeats.ts). */
  private logRefusal(log: { info(msg: string, fields?: Record<string, unknown>): void }, sessionId: string, msg: string, fields: Record<string, unknown>, plugin?: string): void {
    const seen = this.repeats.note(sessionId, msg, String(fields.reply), plugin);
    if (seen !== 'skip') log.info(msg, seen === 'last' ? { ...fields, repeats_not_logged: true } : fields);
  }

  async onCapabilities(conn: RawConnection, keywords: string[]): Promise<string[]> {
    const st = this.sessions.get(conn.id);
    if (!st) return keywords;
    const capabilities = [...keywords];
    await runHook(this.rt.plugins, { hook: 'capabilities', session: st, capabilities, log: this.log(st.id), services: this.rt.services });
    return capabilities.filter((k) => typeof k === 'string' && k.length > 0);
  }

  async onCommand(conn: RawConnection, hook: CommandHookName, line: string): Promise<CommandReply | undefined> {
    const st = this.sessions.get(conn.id);
    if (!st) return undefined;
    const log = this.log(st.id);
    const tx = this.txs.get(conn.id);
    const r = await runHook(this.rt.plugins, { hook, session: st, tx, command: parseCommand(line), log, services: this.rt.services });
    const reply = commandReply(hook, r.outcome);
    if (!reply) return undefined;
    if (reply.code >= 400) {
      log.info('command refused', { hook, plugin: r.plugin, reply: `${reply.code} ${Array.isArray(reply.text) ? reply.text.join(' ') : reply.text}` });
      if (!reply.close && reply.code >= 500 && hook !== 'quit') this.countError(st);
    }
    return reply;
  }

  onSecure = (socket: unknown, session: SMTPServerSession, cb: Cb): void => {
    const st = this.sessions.get(session.id);
    if (st) {
      // Before the connect line, an implicit-TLS handshake's line waits for it, so every session opens with `connect`.
      const line = { client: st.remote.ip, listener: this.listener, via: st.tls ? 'implicit TLS' : 'STARTTLS', ...tlsFields(socket) };
      if (st.tls) this.tlsLines.set(st.id, line);
      else this.log(st.id).info('tls established', line);
      st.tls = true;
    }
    cb();
  };

  /** Writes the `tls established` line an implicit-TLS session held for its `connect` line. */
  private flushTlsLine(id: string): void {
    const line = this.tlsLines.get(id);
    if (!line) return;
    this.tlsLines.delete(id);
    this.log(id).info('tls established', line);
  }

  onAuth = (auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, res?: SMTPServerAuthenticationResponse) => void): void => {
    if (auth.method === 'XCLIENT') return this.xclientLogin(auth.username ?? '', session, cb);
    const st = this.sessions.get(session.id);
    const user = auth.username ?? '';
    const ip = st?.remote.ip ?? normalizeIp(session.remoteAddress);
    // The name as given (never the password), bounded: a guesser chooses it.
    const logged = loggedUser(user);
    const lim = this.rt.config.limits;
    // Our own networks are not guessers to lock out: one mistyped password there would stop a whole office behind one address.
    const exempt = st?.relayNetwork || st?.allowlisted;
    if (!exempt && this.rt.authFailures.refused(ip, lim.max_auth_failures)) {
      this.log(session.id).info('authentication refused: too many failures from this address', { client: ip, ...this.rt.connections.networkField(ip), user: logged, method: auth.method });
      this.rt.metrics.inc('auth_refused');
      if (st) this.countError(st);
      return cb(smtpError(454, '4.7.0', `Too many failed authentications from your ${this.rt.connections.networkField(ip).network ? 'network' : 'address'}, try again later`));
    }
    this.rt.users.check(user, auth.password ?? '', this.rt.authFailures.checkClient(ip)).then((ok) => {
      if (!ok) {
        if (!exempt) this.rt.authFailures.failed(ip, lim.auth_failure_block);
        // The client's address on the line itself, as fail2ban reads Postfix's `SASL LOGIN authentication failed` lines.
        this.log(session.id).info('authentication failed', { client: ip, user: logged, method: auth.method });
        this.rt.metrics.inc('auth_failures');
        if (st) this.countError(st);
        return cb(smtpError(535, '5.7.8', 'Authentication credentials invalid'));
      }
      this.rt.authFailures.succeeded(ip);
      if (st) { st.user = user; st.trusted = true; }
      this.log(session.id).info('authenticated', { client: ip, user: logged, method: auth.method });
      cb(null, { user });
    }, (err) => {
      // Clients with failed logins already have all the checks waiting they may have (users-file.ts): no check for this one.
      if (err instanceof TurnsFull) {
        this.log(session.id).info('authentication refused: too many checks waiting from clients with failures', { client: ip, user: logged, method: auth.method });
        this.rt.metrics.inc('auth_refused');
        if (st) this.countError(st);
        return cb(smtpError(454, '4.7.0', 'Temporary authentication failure'));
      }
      this.log(session.id).error('auth check failed', { error: String(err) });
      cb(smtpError(454, '4.7.0', 'Temporary authentication failure'));
    });
  };

  /**
   * XCLIENT LOGIN= (smtp-server hands it to onAuth without a password): the trusted proxy authenticated the client
   * itself (nginx's `xclient on`), so, as Postfix does, the name is taken as the session's user. There is no password
   * to check and no guess to count: counting it would ban the proxy, whose address every such session comes from.
   * `[UNAVAILABLE]` and `[TEMPUNAVAIL]` never get here (smtp-server clears the login for them).
   */
  private xclientLogin(user: string, session: SMTPServerSession, cb: (err: Error | null | undefined, res?: SMTPServerAuthenticationResponse) => void): void {
    const st = this.sessions.get(session.id);
    const proxy = st ? this.peerIp(st) : normalizeIp(session.remoteAddress);
    // smtp-server runs XCLIENT only for a trusted proxy (patches.ts); checked again, as this skips the password.
    if (!st || !this.isTrustedProxy(proxy) || !user) return cb(smtpError(550, '5.7.0', 'XCLIENT LOGIN not allowed'));
    // The client this command names, if it names one (ADDR in the same command); else the proxy's own session.
    const named = session.xClient?.get('ADDR');
    const ip = typeof named === 'string' && named ? normalizeIp(named) : st.remote.ip;
    st.user = user;
    st.trusted = true;
    this.log(session.id).info('authenticated', { client: ip, user, method: 'XCLIENT', proxy });
    cb(null, { user });
  }

  // ── transaction ─────────────────────────────────────────────────────────────
  /** MAIL's or RCPT's line as the client sent it (patches.ts keeps it on the session while its handler runs). */
  private commandOf(session: SMTPServerSession) {
    const line = (session as { commandLine?: string }).commandLine;
    return line === undefined ? undefined : parseCommand(line);
  }

  onMailFrom = (address: SMTPServerAddress, session: SMTPServerSession, answer: Cb): void => {
    // A refusal for our own trouble excuses the 503s to the RCPTs and DATA pipelined behind this MAIL (ownRefusal).
    const cb: Cb = (err) => { noteMailReply(session.envelope, err, this.rt.config.limits.max_recipients); answer(err); };
    const st = this.sessions.get(session.id);
    if (!st) return cb(smtpError(421, '4.3.0', 'Session lost'));
    if (this.listener === 'submission' && !st.user) return cb(smtpError(530, '5.7.0', 'Authentication required'));
    // The parameters were judged as sent (envelopeParamsReply); RET and ENVID are read here as smtp-server decoded them.
    const dsnParams = dsnOffered(session) ? parseMailDsn(address.args || {}) : undefined;
    if (typeof dsnParams === 'string') return this.refuseCounted(st, badDsn(dsnParams), cb);
    // The address as sent in the log line of its refusal: the logger escapes what it hides (a bidi override).
    const sent = address.address;
    const badForm = takeEnvelopeAddress(address, (session as { commandLine?: string }).commandLine, !!address.args && !!address.args.SMTPUTF8, 'sender');
    if (badForm) {
      this.log(st.id).info('sender refused', { ...refusalFields(st, sent, []), reply: `${badForm.code} ${badForm.enhanced} ${badForm.text}`, reason: badForm.reason });
      return this.refuseCounted(st, smtpError(badForm.code, badForm.enhanced, badForm.text), cb);
    }
    const refused = senderRefusal(this.rt, address.address) ?? senderLoginRefusal(this.rt, st, address.address, this.log(st.id));
    if (refused) {
      this.log(st.id).info('sender refused', { ...refusalFields(st, address.address, []), reply: `${refused.code} ${refused.enhanced} ${refused.text}`, reason: refused.reason });
      return this.refuseCounted(st, smtpError(refused.code, refused.enhanced, refused.text), cb);
    }
    // A full disk is refused here, as Postfix's queue_minfree check does, not after the client sent the whole body;
    // a 4.3.x reply, the gateway's own trouble, not counted toward max_errors. The check probes while marked full.
    if (!this.rt.storage.markedFull) return this.beginTransaction(st, address, session, cb);
    void this.rt.storage.problem().then((problem) => {
      if (!problem) return this.beginTransaction(st, address, session, cb);
      this.log(st.id).info('sender refused', { ...refusalFields(st, address.address, []), reply: '452 4.3.1 Insufficient system storage', reason: problem });
      this.rt.storage.noteRefusal();
      cb(smtpError(452, '4.3.1', 'Insufficient system storage'));
    });
  };

  /** MAIL FROM past the checks of the command itself: the rate limit, then the plugins' mailFrom hook. */
  private beginTransaction(st: SessionState, address: SMTPServerAddress, session: SMTPServerSession, cb: Cb): void {
    const tooFast = takeRate(this.rt, st, 'message', this.log(st.id));
    if (tooFast) {
      this.log(st.id).info('sender refused', { ...refusalFields(st, address.address, []), reply: `450 4.7.1 ${tooFast.text}`, ...tooFast.fields });
      this.rt.metrics.inc('senders_rate_limited');
      return this.refuseCounted(st, smtpError(450, '4.7.1', tooFast.text), cb);
    }
    const tx = new Transaction(newQueueId());
    tx.mailFrom = toAddress(address.address, address.args);
    this.txs.set(session.id, tx);
    const log = this.log(st.id).child({ qid: tx.id });
    runHook(this.rt.plugins, { hook: 'mailFrom', session: st, tx, command: this.commandOf(session), log, services: this.rt.services }).then((r) => {
      if (r.outcome.action === 'continue' || r.outcome.action === 'accept') return cb();
      const reply = replyFor('mailFrom', r.outcome);
      log.info('sender refused', { ...refusalFields(st, address.address, []), plugin: r.plugin, reply: `${reply.code} ${reply.text}` });
      this.rt.metrics.countRefusal('mail_from', r.plugin, r.findings, reply.code);
      this.txs.delete(session.id);
      if (r.outcome.action === 'disconnect') { cb(smtpError(reply.code, undefined, reply.text)); return this.closeAfterReply(session.id); }
      if (countsAsError(reply.code, reply.text)) this.countError(st);
      cb(smtpError(reply.code, undefined, reply.text));
    }, (err) => { log.error('mailFrom failed', { error: String(err) }); cb(smtpError(451, '4.3.0', 'Temporary local problem')); });
  }

  onRcptTo = (address: SMTPServerAddress, session: SMTPServerSession, cb: Cb): void => {
    const st = this.sessions.get(session.id);
    const tx = this.txs.get(session.id);
    if (!st || !tx) return cb(smtpError(503, '5.5.1', 'Error: need MAIL command'));
    const log = this.log(st.id).child({ qid: tx.id });
    const refuse = (code: number, enhanced: string, text: string, fields?: object) => {
      this.logRefusal(log, st.id, 'recipient refused', { ...refusalFields(st, tx.mailFrom?.address, [address.address]), reply: `${code} ${enhanced} ${text}`, ...fields });
      this.rt.metrics.count('recipients_refused', recipientRefusalReason(enhanced, text, fields));
      const counted = countsAsError(code, `${enhanced} ${text}`) || overshootCounts(st, code, `${enhanced} ${text}`, this.rt.config.limits.max_recipient_overshoot);
      if (counted) this.countError(st);
      cb(smtpError(code, enhanced, text));
    };
    // Every RCPT TO counts toward limits.recipient_rate, as anvil counts them: a refused one too (past max_recipients,
    // named twice, with bad parameters), or a client could send them without end while its rate stays at nothing.
    const tooFast = takeRate(this.rt, st, 'recipient', log);
    if (tooFast) return refuse(450, '4.7.1', tooFast.text, tooFast.fields);
    // The parameters were judged as sent (envelopeParamsReply); NOTIFY and ORCPT are read here as smtp-server decoded them.
    const dsnParams = dsnOffered(session) ? parseRcptDsn(address.args || {}) : undefined;
    if (typeof dsnParams === 'string') return this.refuseCounted(st, badDsn(dsnParams), cb);
    const badForm = takeEnvelopeAddress(address, (session as { commandLine?: string }).commandLine, !!tx.mailFrom?.params.SMTPUTF8, 'recipient');
    if (badForm) return refuse(badForm.code, badForm.enhanced, badForm.text, { reason: badForm.reason });
    const policy = this.rt.policy;
    // RFC 5321 §4.5.1: the domainless postmaster must be accepted; it is the postmaster of the first domain, in the
    // A-label form every address is taken in (address-form.ts).
    const firstDomain = policy.localDomains.values().next().value;
    const postmasterDomain = firstDomain && (asciiDomain(firstDomain) || firstDomain).toLowerCase();
    // So is postmaster at an address literal of this host; any other mailbox there is refused below (address-literal.ts).
    const atOwnLiteral = postmasterDomain ? mailboxAtOwnLiteral(address.address, st.local.ip) : undefined;
    const mailbox = atOwnLiteral ?? address.address;
    const raw = isPostmaster(mailbox) && postmasterDomain ? `${mailbox}@${postmasterDomain}` : address.address;
    // The client's RCPT, once accepted, goes on the transaction's list of them once, in the order accepted.
    const acceptedAs = (address: string): void => {
      if (!holdsMailbox(tx, tx.acceptedRcpts, mailboxKey(address))) tx.acceptedRcpts.push(address);
    };
    // A recipient named again is kept once, as first named: in any case, quoted or not, its local part composed or
    // decomposed (the mailbox the lists match: core/lists/address-matcher.ts), as smtp-server keeps one in any case.
    const rawKey = mailboxKey(raw);
    const named = (list: readonly string[]) => holdsMailbox(tx, list, rawKey);
    if (named(tx.acceptedRcpts)) return cb();
    // An address a redirect put in the transaction is still checked when the client names it itself, as Postfix's
    // smtpd checks a RCPT whatever alias expansion will later add; a refusal here leaves the redirect's copy in place.
    const byRedirect = named(tx.recipients.map((r) => r.address));
    if (!byRedirect && tx.recipients.length >= this.rt.config.limits.max_recipients) return refuse(452, '4.5.3', 'Too many recipients');
    const heloRefused = heloRefusal(this.rt, st);
    if (heloRefused) return refuse(heloRefused.code, heloRefused.enhanced, heloRefused.text, { reason: heloRefused.reason });
    const isLocal = (d: string) => policy.localDomains.has(d);
    if (atOwnLiteral !== undefined && !isPostmaster(atOwnLiteral)) {
      return refuse(550, '5.1.1', `<${address.address}>: Recipient address rejected: only postmaster takes mail at this host's address`);
    }
    const why = forbiddenRecipientForm(raw, isLocal);
    if (why) return refuse(550, '5.7.1', `Relay access denied: ${why}`);
    const rcpt = toAddress(raw, address.args);
    const refused = recipientRefusal(this.rt, rcpt);
    if (refused) return refuse(refused.code, refused.enhanced, refused.text, { reason: refused.reason });
    // Before the chain: a recipient the client will send again in a new transaction is checked there (a relay attempt is
    // refused below). One a redirect already put in this transaction is delivered with it whatever the client does next,
    // so sending it away would deliver it twice.
    const split = !byRedirect && (isLocal(rcpt.domain) || st.trusted) ? thresholdSplit(this.rt.config.scores, tx, rcpt) : undefined;
    if (split) return refuse(452, '4.5.3', split.text, split.fields);
    // The recipient goes in, or the targets a plugin redirected it to; the client is told of its own recipient only.
    const admit = (redirect: Transaction['redirect']): void => {
      if (!redirect) {
        if (!byRedirect) tx.recipients.push(rcpt);
        acceptedAs(rcpt.address);
        return cb();
      }
      // Targets go through the gateway's own blocklist, as a client's recipients do.
      const blocked = (a: Address) => isBlockedRecipient(policy, a);
      const allowed = redirect.targets.filter((t) => !blocked(t));
      if (allowed.length < redirect.targets.length) log.warn('redirect target refused by access.blocked_recipients', { to: [rcpt.address], targets: redirect.targets.filter(blocked).map((t) => t.address), plugin: redirect.plugin });
      if (allowed.length === 0) {
        const all = blockedRecipientRefusal(rcpt.address);
        return refuse(all.code, all.enhanced, all.text, { reason: all.reason });
      }
      // The sender's DSN requests follow the recipient to its targets, and the original address goes with them as ORCPT
      // (RFC 3461 §4.2, as Postfix does when it expands an alias), so NOTIFY=NEVER still holds after a redirect.
      const dsn: Record<string, string | true> = { ORCPT: rcpt.params.ORCPT ?? `${isAscii(rcpt.address) ? 'rfc822' : 'utf-8'};${rcpt.address}` };
      if (rcpt.params.NOTIFY !== undefined) dsn.NOTIFY = rcpt.params.NOTIFY;
      const seen = new Set(tx.recipients.map((a) => mailboxKey(a.address)));
      const added = allowed.filter((t) => {
        const k = mailboxKey(t.address);
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      }).map((t) => ({ ...t, params: { ...t.params, ...dsn } }));
      if (tx.recipients.length + added.length > this.rt.config.limits.max_recipients) return refuse(452, '4.5.3', 'Too many recipients');
      tx.recipients.push(...added);
      acceptedAs(rcpt.address);
      log.info('recipient redirected', { to: [rcpt.address], targets: redirect.targets.map((t) => t.address), added: added.map((t) => t.address), plugin: redirect.plugin, reason: redirect.reason });
      cb();
    };
    tx.redirect = undefined;
    runHook(this.rt.plugins, { hook: 'rcptTo', session: st, tx, rcpt, command: this.commandOf(session), log, services: this.rt.services }).then((r) => {
      const o = r.outcome;
      const redirect = tx.redirect;
      tx.redirect = undefined;
      if (o.action === 'accept') return admit(redirect);
      if (o.action !== 'continue') {
        const reply = replyFor('rcptTo', o);
        this.logRefusal(log, st.id, 'recipient refused', { ...refusalFields(st, tx.mailFrom?.address, [rcpt.address]), plugin: r.plugin, reply: `${reply.code} ${reply.text}` }, r.plugin);
        this.rt.metrics.count('recipients_refused', 'plugin');
        this.rt.metrics.countRefusal('rcpt_to', r.plugin, r.findings, reply.code);
        if (o.action === 'disconnect') { cb(smtpError(reply.code, undefined, reply.text)); return this.closeAfterReply(session.id); }
        const counted = countsAsError(reply.code, reply.text) && !repeatsCountedCause(tx, r.plugin, o.countsOnceAs, this.rt.config.limits.max_recipients);
        // A plugin's 452 4.5.3 (bayes split_recipients) counts toward limits.max_recipient_overshoot as the gateway's own.
        const overshot = overshootCounts(st, reply.code, reply.text, this.rt.config.limits.max_recipient_overshoot);
        if (counted || overshot) this.countError(st);
        return cb(smtpError(reply.code, undefined, reply.text));
      }
      // The relay rule judges the recipient the client named; its redirect targets are the plugin's configuration.
      if (isLocal(rcpt.domain) || st.trusted) return admit(redirect);
      refuse(554, '5.7.1', `Relay access denied for <${rcpt.address}>`);
    }, (err) => { tx.redirect = undefined; log.error('rcptTo failed', { error: String(err) }); cb(smtpError(451, '4.3.0', 'Temporary local problem')); });
  };

  async onDataStart(conn: RawConnection, line: string): Promise<Reply & { close?: boolean } | undefined> {
    const st = this.sessions.get(conn.id);
    const tx = this.txs.get(conn.id);
    if (!st || !tx) return undefined;
    const log = this.log(st.id).child({ qid: tx.id });
    const r = await runHook(this.rt.plugins, { hook: 'dataStart', session: st, tx, command: parseCommand(line), log, services: this.rt.services });
    if (r.outcome.action === 'continue' || r.outcome.action === 'accept') return undefined;
    const reply = replyFor('dataStart', r.outcome);
    log.info('DATA refused', { ...refusalFields(st, tx.mailFrom?.address, tx.recipients.map((a) => a.address)), plugin: r.plugin, reply: `${reply.code} ${reply.text}` });
    this.rt.metrics.countRefusal('data_start', r.plugin, r.findings, reply.code);
    if (r.outcome.action === 'disconnect') return { ...reply, close: true };
    // Counted as a refused RCPT or HELO is, as Postfix counts a refusal by smtpd_data_restrictions.
    if (countsAsError(reply.code, reply.text)) this.countError(st);
    return reply;
  }

  onData = (stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): void => {
    const st = this.sessions.get(session.id);
    const tx = this.txs.get(session.id);
    if (!st || !tx) { stream.resume(); return cb(smtpError(503, '5.5.1', 'Error: need MAIL command')); }
    this.txs.delete(session.id);
    st.transactions++;
    receiveMessage(this.rt, st, tx, stream).then((reply) => {
      // As Postfix's junk and error counts, both start again once a message is taken.
      if (reply.code < 300) { this.junk.delete(session.id); this.errorsToLimit.delete(session.id); }
      // A message refused after its final dot counts as a refused command does, as Postfix counts a DATA that failed:
      // uncounted, a client could pipeline transaction after transaction into the same refusal without end. Before the
      // reply goes, so that the one reaching the limit has the 421 right behind it (limits-errors-close.ts). Only a
      // 5xx: a 4xx there is a check that could not be made (a scanner down: 451 4.7.0, a DNS failure: 451 4.4.3) or a
      // policy's "later", never the client's mistake, and counting it cut off every MTA while clamd was down.
      if (!reply.aborted && !reply.close && reply.code >= 500 && countsAsError(reply.code, reply.text)) this.countError(st);
      if (reply.code >= 400) cb(smtpError(reply.code, undefined, reply.text));
      else cb(null, Array.isArray(reply.text) ? reply.text.join(' ') : reply.text);
      if (reply.close) this.closeAfterReply(session.id);
    }, (err) => {
      this.log(st.id).error('message intake failed', { qid: tx.id, error: String((err as Error)?.stack ?? err) });
      cb(smtpError(451, '4.3.0', 'Temporary local problem, please try again later'));
    });
  };
}

// Whether the Redis state store can be used, and why not: the circuit breaker that makes commands fail at once
// during an outage, the one line when it starts and the one when it ends, and the real reason in every error.
import type { Logger } from '../log/types.ts';

/** How often a store known to be down is probed while its connection looks open (a hung server, lost replies). */
export const PROBE_INTERVAL_MS = 250;

const AUTH_REPLY = /^(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i;
/** What ioredis says about its own connection, which hides the cause: the last error the client saw is the real one. */
const CLIENT_WORDING = /^Stream isn't writeable|^Connection is closed|^Reached the max retries per request/;

/** A failure the server itself answered (WRONGTYPE, OOM …): the server is up; only an auth refusal is an outage. */
function isReply(err: Error): boolean {
  return err.name === 'ReplyError';
}

export function isAuthFailure(err: Error): boolean {
  return isReply(err) && AUTH_REPLY.test(err.message);
}

/**
 * A short, real reason for `err`, or undefined when ioredis only says its connection is gone (then the last
 * reason seen stands). Never holds the URL, so never a password.
 */
export function reasonOf(err: Error, commandTimeoutMs: number): string | undefined {
  if (err instanceof ConnectionLostError) return undefined;
  if (isAuthFailure(err)) return `authentication failed (${err.message.trim()})`;
  if (err.message === 'Command timed out') return `timed out: no answer within ${commandTimeoutMs} ms (the server hangs or the network drops replies)`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code === 'ETIMEDOUT') return 'connect timed out (ETIMEDOUT)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host name not resolved (${code})`;
  if (CLIENT_WORDING.test(err.message)) return undefined;
  return err.message;
}

const AUTH_HINT = 'check the user and password in state.redis.url (a configuration error, not an outage)';

/** The message of an error that says the store cannot be used now, and why. */
export function unavailableMessage(url: string, reason: string, auth: boolean): string {
  return auth
    ? `the Redis state store at ${url} refused the login: ${reason}; ${AUTH_HINT}`
    : `cannot reach the Redis state store at ${url}: ${reason}`;
}

export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/** A command whose connection closed before its answer came: it failed, whatever the server did with it. */
class ConnectionLostError extends Error {
  override name = 'ConnectionLostError';
}

interface Outage { reason: string; auth: boolean; since: number }

export interface RedisHealthOptions {
  /** The URL with its password masked. */
  url: string;
  log?: Logger;
  commandTimeoutMs: number;
  /** Sends one PING when the client holds an open connection; undefined when it is reconnecting by itself. */
  probe: () => Promise<unknown> | undefined;
  probeIntervalMs?: number;
}

export class RedisHealth {
  private readonly opts: RedisHealthOptions;
  private outage: Outage | undefined;
  /** The last real reason the client gave, kept across the wording ioredis puts on later failures. */
  private lastReason = 'connection lost';
  private lastAuth = false;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  /** While `connect` runs, failures are its to report (it throws, or logs the start without the store). */
  private starting = true;
  /** How to fail each command still waiting for an answer, when its connection closes. */
  private readonly inFlight = new Set<() => void>();

  constructor(opts: RedisHealthOptions) { this.opts = opts; }

  get down(): boolean { return this.outage !== undefined; }

  /** The error a command gets while the store is down, before it is sent. */
  unavailable(): StoreUnavailableError {
    const o = this.outage;
    return new StoreUnavailableError(unavailableMessage(this.opts.url, o?.reason ?? this.lastReason, o?.auth ?? this.lastAuth));
  }

  /** Throws at once while the store is known to be down: no command waits for a server that is not there. */
  guard(): void {
    if (this.outage) throw this.unavailable();
  }

  /**
   * `answer`, or a failure as soon as the connection it was sent on closes: its reply can no longer come, and
   * the client does not resend it, so waiting for the command timeout would only hold up the SMTP session.
   */
  whileConnected<T>(answer: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const lost = () => reject(new ConnectionLostError('connection lost'));
      this.inFlight.add(lost);
      answer.then(resolve, reject).finally(() => this.inFlight.delete(lost));
    });
  }

  /** The client's connection closed (it reconnects by itself). */
  connectionClosed(): void {
    const waiting = [...this.inFlight];
    this.inFlight.clear();
    for (const fail of waiting) fail();
  }

  /** The client's own `error` event (a failed connect, a refused login): remembered as the reason, and an outage. */
  clientError(err: Error): void {
    this.note(err);
    if (!this.starting) this.markDown();
  }

  /**
   * A command failed: the error to hand on. A server's answer (WRONGTYPE …) is handed on as it is; a failure of the
   * connection marks the store down and becomes an error that names the real reason.
   */
  commandFailed(err: Error): Error {
    if (err instanceof StoreUnavailableError) return err;
    if (isReply(err) && !isAuthFailure(err)) return err;
    this.note(err);
    this.markDown();
    return this.unavailable();
  }

  /** The client is connected and logged in again. */
  ready(): void {
    const o = this.outage;
    this.outage = undefined;
    this.lastReason = 'connection lost';
    this.lastAuth = false;
    this.stopProbing();
    if (o && !this.closed) {
      const downMs = Date.now() - o.since;
      this.opts.log?.info('redis state store reachable again', { url: this.opts.url, down_ms: downMs, down_for: `${(downMs / 1000).toFixed(1)} s` });
    }
  }

  /** Why the store could not be opened, from the error `connect` got. */
  startFailure(err: Error): { message: string; auth: boolean } {
    this.note(err);
    return { message: unavailableMessage(this.opts.url, this.lastReason, this.lastAuth), auth: this.lastAuth };
  }

  /** The gateway starts without the store: down since now, already logged by the caller. */
  startedDown(): void {
    this.starting = false;
    this.outage = { reason: this.lastReason, auth: this.lastAuth, since: Date.now() };
    this.startProbing();
  }

  started(): void { this.starting = false; }

  close(): void {
    this.closed = true;
    this.stopProbing();
  }

  private note(err: Error): void {
    const reason = reasonOf(err, this.opts.commandTimeoutMs);
    if (reason === undefined) return;
    this.lastReason = reason;
    this.lastAuth = isAuthFailure(err);
  }

  private markDown(): void {
    if (this.closed) return;
    const o = this.outage;
    if (!o) {
      this.outage = { reason: this.lastReason, auth: this.lastAuth, since: Date.now() };
      this.report();
      this.startProbing();
      return;
    }
    // A refused login found during an outage is news the admin must act on; another reason is the same outage.
    const wasAuth = o.auth;
    o.reason = this.lastReason;
    o.auth = this.lastAuth;
    if (o.auth && !wasAuth) this.report();
  }

  private report(): void {
    const o = this.outage!;
    const fields = { url: this.opts.url, reason: o.reason };
    if (o.auth) this.opts.log?.error(`redis state store refused the login; ${AUTH_HINT}`, fields);
    else this.opts.log?.warn('redis state store unreachable; commands fail at once until it answers', fields);
  }

  private startProbing(): void {
    if (this.timer || this.closed) return;
    // At once as well: a server that was only slow for one command (a long script) is back as soon as it answers.
    setImmediate(() => { void this.probeOnce(); });
    this.timer = setInterval(() => { void this.probeOnce(); }, this.opts.probeIntervalMs ?? PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  private stopProbing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A client that reconnects says `ready` by itself; one whose connection stayed open (a hung server) does not,
   * so a PING asks. One at a time: a hung server must not collect a queue of them.
   */
  private async probeOnce(): Promise<void> {
    if (this.probing || !this.outage) return;
    const ping = this.opts.probe();
    if (!ping) return;
    this.probing = true;
    try {
      await ping;
      this.ready();
    } catch (err) {
      this.note(err as Error);
      if (this.outage) this.markDown();
    } finally {
      this.probing = false;
    }
  }
}

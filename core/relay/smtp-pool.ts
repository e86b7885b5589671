// A bounded pool of SMTP connections to one host: reused across messages, opened on demand, closed when idle.
import { SmtpConnection, SmtpClientError, type ClientOptions } from './smtp-client.ts';
import { ConcurrencyWindow } from './concurrency-window.ts';

/**
 * An idle connection is closed (QUIT) after this long, as Postfix's smtp_connection_cache_time_limit (2 s): long
 * enough for the next message of a burst to reuse it, short enough not to hold one of the next hop's session slots
 * (or a firewall's state) for mail that is not coming. 30 s kept them open until many servers dropped them first.
 */
export const IDLE_MS = 2_000;

/**
 * A send the pool did not carry out because the gateway is stopping (or the pool closed): it had not begun, or it
 * was cut off before the final reply. Nothing was delivered, and it is not a failure of the next hop.
 */
export class NotAttemptedError extends Error {}

/**
 * The next hop turned a connection away, saying so: a greeting that was not 220. Not a refused connect (RST): a
 * server restarting refuses connects while its old sessions are still open here, and taking that for a limit left the
 * pool at one connection for minutes after the restart (Postfix takes it for a dead host). Nor a connection dropped
 * or left unanswered: that says nothing of a limit, and the host may be failing.
 */
const turnedAway = (e: unknown): e is SmtpClientError => e instanceof SmtpClientError && !e.loopsBack
  && e.stage === 'greeting' && !!e.reply;

/**
 * The next hop refused MAIL FROM asking us to slow down: a 421 (the session ends; Postfix takes a 421 for a failure of
 * the site, not the message) or a 4xx with a 4.7.x status, which rate limits use (Gmail's `421 4.7.28 … rate limited`,
 * Postfix's smtpd_client_message_rate_limit `450 4.7.1`). Each new connection only meets it again.
 */
export const asksToSlowDown = (e: unknown): e is SmtpClientError => e instanceof SmtpClientError && e.inReplyTo === 'MAIL FROM'
  && !!e.reply && e.reply.code >= 400 && e.reply.code < 500 && (e.reply.code === 421 || /^4\.7\.\d{1,3}(\s|$)/.test(e.reply.text));

export class SmtpPool {
  private readonly o: ClientOptions;
  /** The configured `connections`, lowered while the next hop turns connections away (see ConcurrencyWindow). */
  private readonly window: ConcurrencyWindow;
  /** The limit the last warned-of refusal set, until the pool next has all `connections` in use at once. */
  private warnedAt?: number;
  private readonly idle: SmtpConnection[] = [];
  /** Sends waiting for a slot: given a connection, undefined (open one yourself), or the error that ends their wait. */
  private readonly waiters: Array<(c: SmtpConnection | SmtpClientError | undefined) => void> = [];
  /** Connections open, idle or busy, and those still being opened (connect, greeting, EHLO, TLS, AUTH). */
  private open = 0;
  private closing = false;
  /** A stop began: no transaction starts any more. */
  private stopping = false;
  /** Aborted when the stop's grace is over: every session under way, or being opened, is ended. */
  private readonly cut = new AbortController();

  constructor(o: ClientOptions, max: number) {
    this.o = o;
    this.window = new ConcurrencyWindow(max);
  }

  /**
   * How many connections may be open now: `max`, or less after the next hop refused one, until as many deliveries
   * as the limit went through while it was all in use: then one more (a refusal costs only that connection, as the
   * send it was for waits for a working one).
   */
  get limit(): number {
    return this.window.size;
  }

  /**
   * The next hop turned a connection away while `this.open` others are open or being opened (Postfix's
   * smtpd_client_connection_count_limit: `421 4.7.0 too many connections` at the greeting): it takes no more than
   * those for now, so the limit comes down to them, and the send goes on over one of them instead of being deferred.
   */
  private lower(e: SmtpClientError): void {
    if (!this.window.lower(this.open)) return;
    this.cameDown(e, 'next hop turned a connection away while others to it work: fewer connections to it for now');
  }

  /**
   * The next hop refused MAIL FROM asking us to slow down (asksToSlowDown). On a session begun with more than one
   * connection allowed, one fewer is allowed now. On one begun with a single connection allowed, even that is too many
   * for now: this send and those waiting for a connection end with the refusal (`slowDown`), which the queue takes
   * as a sign to hold the destination back behind a probe, as a down one, rather than open connection after
   * connection to be refused each time (2,067 refusals in 12 minutes to a rate-limited destination, before).
   */
  private slowDown(e: SmtpClientError, alone: boolean): void {
    if (!alone) {
      if (this.window.slowDown()) this.cameDown(e, 'next hop asks to slow down: fewer connections to it for now');
      return;
    }
    e.slowDown = true;
    const told = new SmtpClientError(e.stage, `${e.message} (to another send on one connection; this one did not try)`, e.reply, e.network, e.server);
    told.inReplyTo = e.inReplyTo;
    told.slowDown = true;
    for (const w of this.waiters.splice(0)) w(told);
  }

  /** The limit came down for `e`: a warning, unless it is no lower than one warned of already. */
  private cameDown(e: SmtpClientError, msg: string): void {
    const fields = { host: this.o.host, port: this.o.port, reason: e.replyText, connections: this.window.size, configured: this.window.max };
    // A busy pool asks a limited hop for one more every few deliveries, and is turned away each time it asks beyond
    // the limit: a warning for each would flood the log. Only a limit lower than the one already warned of is news.
    if (this.warnedAt !== undefined && this.window.size >= this.warnedAt) {
      this.o.log?.debug('next hop still takes no more connections than before', fields);
      return;
    }
    this.warnedAt = this.window.size;
    this.o.log?.warn(msg, fields);
  }

  /** A send went through on one of `inUse` busy connections: the limit may climb back (see ConcurrencyWindow). */
  private delivered(inUse: number): void {
    this.window.delivered(inUse);
    if (this.warnedAt === undefined || inUse < this.window.max) return;
    this.warnedAt = undefined;
    this.o.log?.info('next hop takes all configured connections again', { host: this.o.host, port: this.o.port, connections: this.window.max });
  }

  /**
   * Runs `work` on a connection. A reused connection that turns out to be dead before any reply (the server dropped
   * it while idle) is replaced once by a fresh one. Throws NotAttemptedError for work a stop kept from starting or cut off.
   */
  async with<T>(work: (c: SmtpConnection) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const { conn, reused } = await this.acquire();
      // Whether this session is all the next hop is allowed now: a refusal asking to slow down then holds it back.
      const alone = this.window.size === 1;
      // A connection opened for a send that asked before the stop: nothing of its transaction has been sent yet.
      if (this.stopping) { this.release(conn); throw this.notAttempted('not started'); }
      const cutOff = () => conn.cutOff(`connection to ${this.o.host}:${this.o.port} cut off: the gateway is stopping`);
      this.cut.signal.addEventListener('abort', cutOff, { once: true });
      try {
        const result = await work(conn);
        // Before the release, which hands the connection on: counted as it is, this one is still in use.
        this.delivered(this.open - this.idle.length);
        this.release(conn);
        return result;
      } catch (e) {
        conn.destroy();
        this.release(conn);
        if (this.cut.signal.aborted) throw this.notAttempted('cut off before the final reply');
        // A reused connection the server closes with a 421 to RSET or MAIL FROM (its idle timeout) is stale too.
        const stale = !this.stopping && reused && attempt === 0 && e instanceof SmtpClientError && e.beforeReply && (e.network || e.reply?.code === 421);
        if (stale) continue;
        if (asksToSlowDown(e)) this.slowDown(e, alone);
        throw e;
      } finally {
        this.cut.signal.removeEventListener('abort', cutOff);
      }
    }
  }

  private notAttempted(what: string): NotAttemptedError {
    // A relay a reload replaced is closed too, once the deliveries that used it are done.
    const why = this.stopping ? 'the gateway is stopping' : 'this relay was closed';
    return new NotAttemptedError(`${what}: ${why} (${this.o.host}:${this.o.port})`);
  }

  private async acquire(): Promise<{ conn: SmtpConnection; reused: boolean }> {
    if (this.closing || this.stopping) throw this.notAttempted('not started');
    const idle = this.takeIdle();
    if (idle) return { conn: idle, reused: true };
    if (this.open < this.limit) {
      this.open++;
      try {
        return { conn: await SmtpConnection.open(this.o, this.cut.signal), reused: false };
      } catch (e) {
        this.open--;
        if (this.cut.signal.aborted) { this.wakeOne(); throw this.notAttempted('cut off while connecting'); }
        // Others are open or being opened: this send goes on over one of them. One may have gone idle while this
        // connect was under way (its release found no waiter), so the pool is looked at again before waiting.
        if (turnedAway(e) && this.open > 0 && !this.closing && !this.stopping) {
          this.lower(e);
          return this.acquire();
        }
        if (this.unanswered(e)) this.failWaiters(e as SmtpClientError);
        else this.wakeOne();
        throw e;
      }
    }
    const c = await new Promise<SmtpConnection | SmtpClientError | undefined>((resolve) => this.waiters.push(resolve));
    if (c instanceof SmtpClientError) throw c;
    if (c) { c.busy(); return { conn: c, reused: true }; }
    return this.acquire();
  }

  /** An idle connection still open, made busy; those the server closed meanwhile leave the count. */
  private takeIdle(): SmtpConnection | undefined {
    while (this.idle.length) {
      const c = this.idle.pop()!;
      if (!c.closed) { c.busy(); return c; }
      this.open--;
    }
    return undefined;
  }

  private release(c: SmtpConnection): void {
    if (c.closed || this.closing) {
      this.open--;
      this.wakeOne();
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      w(c);
      // The limit rose since the others began to wait: one of them may open a connection of its own.
      if (this.open < this.limit) this.wakeOne();
      return;
    }
    c.idle(IDLE_MS, () => {
      const i = this.idle.indexOf(c);
      if (i < 0) return;
      this.idle.splice(i, 1);
      this.open--;
      void c.quit();
      // A slot freed, as any close frees one: a send still waiting (none should while one is idle) must not miss it,
      // as nothing else may come to wake it, and its message would hold a queue slot with no retry.
      this.wakeOne();
    });
    this.idle.push(c);
  }

  /**
   * Whether the host answered none of this pool's connections: this one failed with no reply (no connection, or it
   * went quiet or closed before a whole reply), and no other is open or being opened. Then the host is down or hung
   * for now; while another is still being set up it may yet succeed, and the waiters wait for it.
   */
  private unanswered(e: unknown): boolean {
    // Called after this connection left `open`: what is left counts the open ones and the others being opened.
    return e instanceof SmtpClientError && e.network && !e.reply && this.open === 0;
  }

  /**
   * The sends waiting for a slot end with the failure at once, as the host failed for them too, rather than each
   * opening a connection of its own and waiting as long. With the RFC's times (5 minutes for a greeting) a hung next
   * hop otherwise kept every delivery to it in flight for several rounds of its pool, and so held queue.concurrency
   * slots that other routes' mail waits for; the queue then holds the destination's other mail (destination down).
   */
  private failWaiters(e: SmtpClientError): void {
    const told = new SmtpClientError(e.stage, `${e.message} (a connection opened for another send; this one waited for it and did not try again)`, e.reply, e.network, e.server);
    for (const w of this.waiters.splice(0)) w(told);
  }

  /** A slot freed up: a waiter may open a connection of its own. */
  private wakeOne(): void {
    const w = this.waiters.shift();
    if (w) w(undefined);
  }

  /** Starts no transaction any more: sends waiting for a connection give up at once (NotAttemptedError). */
  stopStarting(): void {
    this.stopping = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  /** Ends the sessions under way, and those being opened, where they stand. */
  cutOff(): void {
    this.stopStarting();
    this.cut.abort();
  }

  async close(): Promise<void> {
    this.closing = true;
    const idle = this.idle.splice(0);
    this.open -= idle.length;
    await Promise.all(idle.map((c) => c.quit()));
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

// A bounded pool of SMTP connections to one host: reused across messages, opened on demand, closed when idle.
import { SmtpConnection, SmtpClientError, type ClientOptions } from './smtp-client.ts';

/** An idle connection is closed (QUIT) after this long; servers drop idle clients after a few minutes anyway. */
const IDLE_MS = 30_000;

export class SmtpPool {
  private readonly o: ClientOptions;
  private readonly max: number;
  private readonly idle: SmtpConnection[] = [];
  private readonly waiters: Array<(c: SmtpConnection | undefined) => void> = [];
  private open = 0;
  private closing = false;

  constructor(o: ClientOptions, max: number) {
    this.o = o;
    this.max = Math.max(1, max);
  }

  /**
   * Runs `work` on a connection. A reused connection that turns out to be dead before any reply (the server dropped
   * it while idle) is replaced once by a fresh one.
   */
  async with<T>(work: (c: SmtpConnection) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const { conn, reused } = await this.acquire();
      try {
        const result = await work(conn);
        this.release(conn);
        return result;
      } catch (e) {
        conn.destroy();
        this.release(conn);
        const stale = reused && attempt === 0 && e instanceof SmtpClientError && e.network && e.beforeReply;
        if (!stale) throw e;
      }
    }
  }

  private async acquire(): Promise<{ conn: SmtpConnection; reused: boolean }> {
    if (this.closing) throw new SmtpClientError('connect', 'relay is shutting down', undefined, true);
    while (this.idle.length) {
      const c = this.idle.pop()!;
      if (!c.closed) { c.busy(); return { conn: c, reused: true }; }
      this.open--;
    }
    if (this.open < this.max) {
      this.open++;
      try {
        return { conn: await SmtpConnection.open(this.o), reused: false };
      } catch (e) {
        this.open--;
        this.wakeOne();
        throw e;
      }
    }
    const c = await new Promise<SmtpConnection | undefined>((resolve) => this.waiters.push(resolve));
    if (c) { c.busy(); return { conn: c, reused: true }; }
    return this.acquire();
  }

  private release(c: SmtpConnection): void {
    if (c.closed || this.closing) {
      this.open--;
      this.wakeOne();
      return;
    }
    const w = this.waiters.shift();
    if (w) { w(c); return; }
    c.idle(IDLE_MS, () => {
      const i = this.idle.indexOf(c);
      if (i >= 0) { this.idle.splice(i, 1); this.open--; void c.quit(); }
    });
    this.idle.push(c);
  }

  /** A slot freed up: a waiter may open a connection of its own. */
  private wakeOne(): void {
    const w = this.waiters.shift();
    if (w) w(undefined);
  }

  async close(): Promise<void> {
    this.closing = true;
    const idle = this.idle.splice(0);
    this.open -= idle.length;
    await Promise.all(idle.map((c) => c.quit()));
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

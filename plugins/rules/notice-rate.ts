// How many notices a rule may send: at most `limit` in a window of `windowMs` that starts with its first notice, so a
// spam run that matches a notify rule a thousand times a minute sends the admin `limit` notices, not a thousand. The
// notices held back are counted and told once, when their window ends.

interface Window { start: number; sent: number; suppressed: number; timer?: NodeJS.Timeout }

export class NoticeRate {
  private readonly windows = new Map<string, Window>();
  private readonly limit: number;
  private readonly windowMs: number;
  /** Told once per window that held notices back, at its end (or at close), with how many. */
  private readonly onSuppressed: (rule: string, suppressed: number, windowMs: number) => void;
  private readonly now: () => number;

  constructor(limit: number, windowMs: number, onSuppressed: (rule: string, suppressed: number, windowMs: number) => void, now = Date.now) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.onSuppressed = onSuppressed;
    this.now = now;
  }

  /** Whether a notice of `rule` may go now; one that may not is counted against its window. */
  take(rule: string): boolean {
    const now = this.now();
    let w = this.windows.get(rule);
    if (w && now - w.start >= this.windowMs) { this.end(rule, w); w = undefined; }
    if (!w) { w = { start: now, sent: 0, suppressed: 0 }; this.windows.set(rule, w); }
    if (w.sent < this.limit) { w.sent++; return true; }
    w.suppressed++;
    // At the window's end rather than at the next notice: a run that stops must still be told.
    if (!w.timer) {
      const window = w;
      window.timer = setTimeout(() => this.end(rule, window), Math.max(0, window.start + this.windowMs - now));
      window.timer.unref();
    }
    return false;
  }

  private end(rule: string, w: Window): void {
    clearTimeout(w.timer);
    if (this.windows.get(rule) === w) this.windows.delete(rule);
    if (w.suppressed) this.onSuppressed(rule, w.suppressed, this.windowMs);
    w.suppressed = 0;
  }

  /** Tells the counts of the windows still open, and forgets them. */
  close(): void {
    for (const [rule, w] of [...this.windows]) this.end(rule, w);
  }
}

// Events per key that are each worth a log line but may come by the thousand (refused connections in a flood): the
// first one of a key gets its line, the rest are counted and told in one line per key per interval.

interface Tally { lineAt: number; count: number; detail: string }

export interface RepeatSummary { key: string; count: number; detail: string; sinceMs: number }

export class RepeatCounter {
  /** Keys whose last line is less than an interval old, or who have a count to tell; in order of that line. */
  private readonly tallies = new Map<string, Tally>();
  /** Keys with a count to tell. */
  private counted = 0;
  private readonly now: () => number;
  readonly intervalMs: number;

  constructor(now: () => number, intervalMs: number) {
    this.now = now;
    this.intervalMs = intervalMs;
  }

  /**
   * Takes one event of `key` (`detail`: what the summary should name, the latest event's). True when it gets a line
   * of its own: the first in an interval. Else it is counted for `due()`, which must be asked before this.
   */
  event(key: string, detail: string): boolean {
    const t = this.tallies.get(key);
    if (t) {
      if (!t.count++) this.counted++;
      t.detail = detail;
      return false;
    }
    this.tallies.set(key, { lineAt: this.now(), count: 0, detail });
    return true;
  }

  /**
   * The counts whose interval has ended, to be written now: each key's count restarts with that line, and a key
   * with nothing counted is forgotten, so that its next event gets a line of its own again.
   */
  due(): RepeatSummary[] {
    const now = this.now();
    const out: RepeatSummary[] = [];
    for (const [key, t] of this.tallies) {
      if (now - t.lineAt < this.intervalMs) break;
      this.tallies.delete(key);
      if (!t.count) continue;
      this.counted--;
      out.push({ key, count: t.count, detail: t.detail, sinceMs: now - t.lineAt });
    }
    // Counted keys start a new interval with their summary line; put back after the loop, which they would end.
    for (const s of out) this.tallies.set(s.key, { lineAt: now, count: 0, detail: s.detail });
    return out;
  }

  /** When the next count falls due, if any key has one. */
  nextDue(): number | undefined {
    if (!this.counted) return undefined;
    // In order of their lines, so the first with a count is the earliest due.
    for (const t of this.tallies.values()) if (t.count) return t.lineAt + this.intervalMs;
    return undefined;
  }

  /** Keys held. */
  get size(): number { return this.tallies.size; }
}

/**
 * One timer for the earliest count still to tell among some counters: it runs `flush`, then arms itself for the next,
 * so a flood that stops still has its last interval told. Unref'd: nothing to keep a stopping gateway waiting for.
 */
export class DueTimer {
  private readonly counters: readonly RepeatCounter[];
  private readonly now: () => number;
  private readonly flush: () => void;
  private timer?: NodeJS.Timeout;

  constructor(now: () => number, counters: readonly RepeatCounter[], flush: () => void) {
    this.now = now;
    this.counters = counters;
    this.flush = flush;
  }

  arm(): void {
    if (this.timer) return;
    const at = this.counters.map((c) => c.nextDue()).filter((x): x is number => x !== undefined);
    if (!at.length) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.flush(); this.arm(); }, Math.max(0, Math.min(...at) - this.now()));
    this.timer.unref();
  }
}

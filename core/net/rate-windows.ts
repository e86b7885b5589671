// Events per client key over a recent window (connections, messages, recipients), for rate limits such as Postfix's
// anvil keeps. Each key holds two fixed buckets of the window's length, the current one and the one before it, and
// the rate is the current bucket's count plus the part of the earlier one that still falls in the window ending now
// (its count weighted by how much of it that is, as if its events had come evenly). A client's memory is the same
// few numbers however many events it sends, unlike a log of each event's time, and unlike one fixed bucket that is
// cleared at its end, a burst across a bucket's edge still counts against the client after the edge.
import { ExpiringEntries } from './expiring-entries.ts';

export type RateKind = 'connection' | 'message' | 'recipient';

const SLOT: Record<RateKind, number> = { connection: 0, message: 1, recipient: 2 };

interface Entry {
  /** When the earlier bucket has left the window as well, and the entry says nothing any more. */
  until: number;
  /** The window the buckets were laid out for: a reload that changes it starts the key again. */
  windowMs: number;
  /** Start of the current bucket. */
  start: number;
  current: [number, number, number];
  earlier: [number, number, number];
}

export class RateWindows {
  private readonly entries = new ExpiringEntries<Entry>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) { this.now = now; }

  /** Counts one event of `kind` for `key`; returns the key's events of that kind in the last `windowMs`, this one included. */
  count(key: string, kind: RateKind, windowMs: number): number {
    const now = this.now();
    const e = this.current(key, windowMs, now) ?? fresh(windowMs, now);
    e.current[SLOT[kind]]++;
    // Set again on every event, so the entry lives on while the key is busy and the map stays in order of expiry.
    this.entries.set(key, e, now);
    return rate(e, SLOT[kind], now);
  }

  /** The key's events of `kind` in the last `windowMs`, without counting one. */
  peek(key: string, kind: RateKind, windowMs: number): number {
    const now = this.now();
    const e = this.current(key, windowMs, now);
    return e ? rate(e, SLOT[kind], now) : 0;
  }

  /** Keys held (ones that went quiet and are not swept out yet included). */
  get size(): number { return this.entries.size; }

  /** The key's entry with its buckets moved up to `now`, or undefined when it has none (or one for another window). */
  private current(key: string, windowMs: number, now: number): Entry | undefined {
    const e = this.entries.get(key, now);
    if (!e || e.windowMs !== windowMs) return undefined;
    const passed = Math.floor((now - e.start) / windowMs);
    if (passed >= 1) {
      e.earlier = passed === 1 ? e.current : [0, 0, 0];
      e.current = [0, 0, 0];
      e.start += passed * windowMs;
      e.until = e.start + 2 * windowMs;
    }
    return e;
  }
}

function fresh(windowMs: number, now: number): Entry {
  return { until: now + 2 * windowMs, windowMs, start: now, current: [0, 0, 0], earlier: [0, 0, 0] };
}

function rate(e: Entry, slot: number, now: number): number {
  // Bounded, so a clock set back never weighs the earlier bucket as more than itself.
  const stillIn = Math.min(1, Math.max(0, 1 - (now - e.start) / e.windowMs));
  return e.current[slot] + e.earlier[slot] * stillIn;
}

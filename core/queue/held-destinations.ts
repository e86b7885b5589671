// Destinations the delivery queue holds back (no server answered, or its servers asked to slow down), each with the
// messages waiting for it and the time of its next probe, as Postfix's qmgr keeps a queue per destination.
import { DueHeap } from './due-heap.ts';

interface Held {
  /** What the last try of it said: a waiting recipient's reply is `delivery temporarily suspended: <reason>`. */
  reason: string;
  /** Messages every pending recipient of which is on a held destination, this one among them. */
  waiting: Set<string>;
  /** The message trying it now, whose outcome decides whether it is still held. */
  probing?: string;
}

/**
 * Held destinations and their waiting lists. What one destination's probe finds touches its own list only, and a
 * probe turn costs a look at that list, never a scan of the whole queue: with 20,000 messages waiting behind 300
 * destinations, such scans on every timer turn held the event loop for seconds.
 */
export class HeldDestinations {
  private readonly held = new Map<string, Held>();
  /** When each held destination not being probed now is probed next. */
  private readonly probes = new DueHeap();
  /** The destinations each waiting message waits for. */
  private readonly waitsFor = new Map<string, string[]>();
  /** The destinations each message under way probes. */
  private readonly probed = new Map<string, string[]>();

  get size(): number { return this.held.size; }
  has(dest: string): boolean { return this.held.has(dest); }
  reason(dest: string): string | undefined { return this.held.get(dest)?.reason; }
  /** The message probing `dest` now. */
  probeOf(dest: string): string | undefined { return this.held.get(dest)?.probing; }
  isWaiting(id: string): boolean { return this.waitsFor.has(id); }
  /** When the next probe of any destination is due; Infinity when none is. */
  get nextProbeAt(): number { return this.probes.next; }

  /**
   * Holds `dest` back for `reason`; true when it was not held yet. Its next probe goes at `probeAt` when it is newly
   * held or when `byProbe` (the message that found it so was its probe): another message finding it still down
   * (a flushed one) leaves the probe's turn where it was.
   */
  hold(dest: string, reason: string, probeAt: number, byProbe: boolean): boolean {
    const h = this.held.get(dest);
    if (!h) {
      this.held.set(dest, { reason, waiting: new Set() });
      this.probes.set(dest, probeAt);
      return true;
    }
    h.reason = reason;
    if (byProbe) { h.probing = undefined; this.probes.set(dest, probeAt); }
    return false;
  }

  /** Lets `dest` go: the messages that waited for it, each taken off every list it was on. */
  release(dest: string): string[] {
    const h = this.held.get(dest);
    if (!h) return [];
    this.held.delete(dest);
    this.probes.delete(dest);
    const ids = [...h.waiting];
    for (const id of ids) this.leave(id);
    return ids;
  }

  /** Forgets every held destination (a flush of the whole queue, a new relay): the messages that waited. */
  clear(): string[] {
    const ids = [...this.waitsFor.keys()];
    this.held.clear();
    this.probes.clear();
    this.waitsFor.clear();
    return ids;
  }

  /** `id` waits for `dests`, every one of them held. */
  wait(id: string, dests: Iterable<string>): void {
    this.leave(id);
    const list: string[] = [];
    for (const d of dests) {
      const h = this.held.get(d);
      if (!h) continue;
      h.waiting.add(id);
      list.push(d);
    }
    if (list.length) this.waitsFor.set(id, list);
  }

  /** Takes `id` off every waiting list; whether it was on one. */
  leave(id: string): boolean {
    const list = this.waitsFor.get(id);
    if (!list) return false;
    this.waitsFor.delete(id);
    for (const d of list) this.held.get(d)?.waiting.delete(id);
    return true;
  }

  /**
   * The next destination whose probe is due by `now`, and the oldest message waiting for it, which becomes its probe
   * (taken off every list). A destination nobody waits for any more is let go instead (`id` undefined): the next
   * message for it tries it.
   */
  takeDueProbe(now: number): { dest: string; id?: string } | undefined {
    const dest = this.probes.popDue(now);
    if (dest === undefined) return undefined;
    const h = this.held.get(dest)!;
    let oldest: string | undefined;
    for (const id of h.waiting) if (oldest === undefined || id < oldest) oldest = id;
    if (oldest === undefined) { this.held.delete(dest); return { dest }; }
    this.leave(oldest);
    h.probing = oldest;
    const mine = this.probed.get(oldest);
    if (mine) mine.push(dest); else this.probed.set(oldest, [dest]);
    return { dest, id: oldest };
  }

  /**
   * The attempt of `id` ended. A destination it probed that is still held with no verdict from it (the attempt sent
   * nothing there: a stop, a relay replaced) is probed again at `fallbackAt`.
   */
  probeEnded(id: string, fallbackAt: number): void {
    const dests = this.probed.get(id);
    if (!dests) return;
    this.probed.delete(id);
    for (const d of dests) {
      const h = this.held.get(d);
      if (!h || h.probing !== id) continue;
      h.probing = undefined;
      if (this.probes.timeOf(d) === undefined) this.probes.set(d, fallbackAt);
    }
  }
}

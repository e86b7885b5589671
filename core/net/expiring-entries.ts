// Entries per client address that end at a time of their own (error blocks, AUTH failure counts). An expired entry
// goes when its address comes back, and the rest in a sweep once the map has grown past a mark, so that addresses
// that never come back (one per spam bot, in front of an MX) do not stay for the life of the gateway.

/** Entries kept before the expired ones are swept out; each sweep sets the next mark at twice what is left. */
const MIN_SWEEP_MARK = 1024;

export class ExpiringEntries<V extends { until: number }> {
  private readonly map = new Map<string, V>();
  private sweepMark = MIN_SWEEP_MARK;

  /** The live entry of `key`; an expired one is dropped. */
  get(key: string, now: number): V | undefined {
    const v = this.map.get(key);
    if (v && v.until <= now) { this.map.delete(key); return undefined; }
    return v;
  }

  set(key: string, value: V, now: number): void {
    // Re-inserted, so that the map stays in order of expiry when every entry has the same length.
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size < this.sweepMark) return;
    for (const [k, v] of this.map) if (v.until <= now) this.map.delete(k);
    this.sweepMark = Math.max(MIN_SWEEP_MARK, this.map.size * 2);
  }

  delete(key: string): void { this.map.delete(key); }

  /** Entries held, expired ones not yet swept out included. */
  get size(): number { return this.map.size; }
}

// A bounded answer cache keyed by type and name: positive answers live for their TTL, negative ones for the SOA minimum.
import type { DnsErrorCode } from './types.ts';
import type { RecordValue } from './wire.ts';

export type CacheEntry = { expires: number; records: RecordValue[] } | { expires: number; error: DnsErrorCode };

export class AnswerCache {
  private readonly map = new Map<string, CacheEntry>();
  private readonly max: number;
  private readonly now: () => number;
  constructor(max: number, now: () => number) { this.max = max; this.now = now; }

  get size(): number { return this.map.size; }

  get(key: string): CacheEntry | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) { this.map.delete(key); return undefined; }
    // Re-insert so that eviction drops the least recently used entry first.
    this.map.delete(key);
    this.map.set(key, e);
    return e;
  }

  /** Stores an entry for `ttlMs`; a zero TTL means "do not cache", as RFC 1035 says. */
  set(key: string, ttlMs: number, value: { records: RecordValue[] } | { error: DnsErrorCode }): void {
    if (this.max <= 0 || ttlMs <= 0) return;
    this.map.delete(key);
    this.map.set(key, { expires: this.now() + ttlMs, ...value } as CacheEntry);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }

  clear(): void { this.map.clear(); }
}

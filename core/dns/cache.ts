// A bounded answer cache keyed by type and name: positive answers live for their TTL, negative ones for the SOA minimum.
import type { DnsErrorCode } from './types.ts';
import type { RecordValue } from './wire.ts';

export type CacheEntry = { expires: number; records: RecordValue[] } | { expires: number; error: DnsErrorCode };

/**
 * Characters of record text the cache holds at most. The entry count alone does not bound its memory: a TXT answer
 * may carry 64 KB, and whoever sends mail chooses the names looked up (sender domains' SPF and DMARC records, link
 * hosts), so 10,000 entries could hold some 640 MB. Typical answers are well under 200 characters.
 */
export const MAX_CACHED_CHARS = 16 * 1024 * 1024;

/** What an entry costs: its key, its record text, and a fixed part for the objects around them. */
function weightOf(key: string, e: CacheEntry): number {
  let n = 64 + key.length;
  if ('records' in e) for (const r of e.records) n += 16 + (typeof r === 'string' ? r.length : r.exchange.length + 8);
  return n;
}

export class AnswerCache {
  private readonly map = new Map<string, { entry: CacheEntry; weight: number }>();
  private readonly max: number;
  private readonly maxChars: number;
  private readonly now: () => number;
  private chars = 0;
  constructor(max: number, now: () => number, maxChars = MAX_CACHED_CHARS) { this.max = max; this.now = now; this.maxChars = maxChars; }

  get size(): number { return this.map.size; }

  /** The weight of what the cache holds, in characters (for tests and stats). */
  get weight(): number { return this.chars; }

  get(key: string): CacheEntry | undefined {
    const held = this.map.get(key);
    if (!held) return undefined;
    if (held.entry.expires <= this.now()) { this.drop(key); return undefined; }
    // Re-insert so that eviction drops the least recently used entry first.
    this.map.delete(key);
    this.map.set(key, held);
    return held.entry;
  }

  /** Stores an entry for `ttlMs`; a zero TTL means "do not cache", as RFC 1035 says. */
  set(key: string, ttlMs: number, value: { records: RecordValue[] } | { error: DnsErrorCode }): void {
    if (this.max <= 0 || ttlMs <= 0) return;
    this.drop(key);
    const entry = { expires: this.now() + ttlMs, ...value } as CacheEntry;
    const weight = weightOf(key, entry);
    if (weight > this.maxChars) return;
    this.map.set(key, { entry, weight });
    this.chars += weight;
    while (this.map.size > this.max || this.chars > this.maxChars) this.drop(this.map.keys().next().value as string);
  }

  clear(): void { this.map.clear(); this.chars = 0; }

  private drop(key: string): void {
    const held = this.map.get(key);
    if (!held) return;
    this.map.delete(key);
    this.chars -= held.weight;
  }
}

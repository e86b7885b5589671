// Counters and a window of lookup times behind the resolver's stats().
import type { DnsErrorCode, DnsStats } from './types.ts';

const WINDOW = 2048;

export class LookupStats {
  lookups = 0;
  cacheHits = 0;
  joined = 0;
  queries = 0;
  errors: Partial<Record<DnsErrorCode, number>> = {};
  private readonly times: number[] = [];
  private next = 0;

  recordQuery(ms: number, error?: DnsErrorCode): void {
    this.queries++;
    if (error) this.errors[error] = (this.errors[error] ?? 0) + 1;
    if (this.times.length < WINDOW) this.times.push(ms);
    else { this.times[this.next] = ms; this.next = (this.next + 1) % WINDOW; }
  }

  snapshot(cacheSize: number): DnsStats {
    const sorted = [...this.times].sort((a, b) => a - b);
    const pick = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : 0);
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      lookups: this.lookups, cacheHits: this.cacheHits, joined: this.joined, queries: this.queries,
      errors: { ...this.errors },
      latency: {
        count: sorted.length,
        meanMs: round(sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0),
        p50Ms: round(pick(0.5)), p99Ms: round(pick(0.99)), maxMs: round(sorted.at(-1) ?? 0),
      },
      cacheSize,
    };
  }
}

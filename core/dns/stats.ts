// Counters and a window of lookup times behind the resolver's stats().
import type { DnsErrorCode, DnsStats } from './types.ts';
import { percentile, roundSeconds } from '../metrics.ts';

const WINDOW = 2048;

/** Every code a failed lookup is counted under, so each series exists (at 0) before its first failure. */
const ERROR_CODES: readonly DnsErrorCode[] = ['NXDOMAIN', 'NODATA', 'TIMEOUT', 'SERVFAIL', 'REFUSED', 'FORMERR', 'OTHER'];

export class LookupStats {
  lookups = 0;
  cacheHits = 0;
  joined = 0;
  queries = 0;
  errors: Partial<Record<DnsErrorCode, number>> = {};
  /** Seconds of every query since start, for the summary's `_sum`. */
  private secondsSum = 0;
  private readonly times: number[] = [];
  private next = 0;

  recordQuery(ms: number, error?: DnsErrorCode): void {
    this.queries++;
    this.secondsSum += ms / 1000;
    if (error) this.errors[error] = (this.errors[error] ?? 0) + 1;
    if (this.times.length < WINDOW) this.times.push(ms);
    else { this.times[this.next] = ms; this.next = (this.next + 1) % WINDOW; }
  }

  snapshot(cacheSize: number): DnsStats {
    const sorted = [...this.times].sort((a, b) => a - b);
    const seconds = (ms: number) => roundSeconds(ms / 1000);
    const window = sorted.length ? { p50: seconds(percentile(sorted, 0.5)), p99: seconds(percentile(sorted, 0.99)), max: seconds(sorted.at(-1)!) } : {};
    return {
      lookups: this.lookups, cache_hits: this.cacheHits, joined: this.joined, queries: this.queries,
      errors: Object.fromEntries(ERROR_CODES.map((c) => [c, this.errors[c] ?? 0])) as Record<DnsErrorCode, number>,
      query_duration_seconds: { ...window, sum: roundSeconds(this.secondsSum), count: this.queries },
      cache_size: cacheSize,
    };
  }
}

// Counters, recent lookup times and the last 30 s of outcomes behind the resolver's stats() and the readiness check.
import type { DnsAnswerKind, DnsErrorCode, DnsStats } from './types.ts';
import { percentile, QUANTILE_SPAN_MS, RecentWindow, roundSeconds } from '../metrics.ts';

/** At most how many of the queries of the last QUANTILE_SPAN_MS the percentiles are taken over. */
const WINDOW = 2048;

/** Every kind of answer, so each series exists (at 0) before the first. */
const ANSWERS: readonly DnsAnswerKind[] = ['NOERROR', 'NODATA', 'NXDOMAIN'];
/** Every code a query that got no answer is counted under, so each series exists (at 0) before its first failure. */
const FAILURES: readonly Exclude<DnsErrorCode, DnsAnswerKind | 'FORMERR'>[] = ['TIMEOUT', 'SERVFAIL', 'REFUSED', 'OTHER'];

/** How many seconds of outcomes `recent()` adds up, one slot per second. */
export const RECENT_SECONDS = 30;

/** The queries of the last RECENT_SECONDS: how many went out, how many got no answer, and the latest that got none. */
export interface RecentQueries {
  queries: number;
  failed: number;
  /** The latest query got no answer (no query has answered since the last failure). */
  lastFailed: boolean;
  /** Queries in a row, up to the latest, that got no answer, however long ago they went. */
  failedInARow: number;
  /** The latest query that got no answer, to ask again. */
  lastFailure?: { name: string; type: string; error: DnsErrorCode };
}

/** Whether a code means the query got no answer: a server failure or silence, not NXDOMAIN or NODATA. */
export function isFailure(error: DnsErrorCode | undefined): boolean {
  return error !== undefined && error !== 'NXDOMAIN' && error !== 'NODATA';
}

export class LookupStats {
  lookups = 0;
  cacheHits = 0;
  joined = 0;
  queries = 0;
  answers: Partial<Record<DnsAnswerKind, number>> = {};
  errors: Partial<Record<DnsErrorCode, number>> = {};
  /** Seconds of every query since start, for the summary's `_sum`. */
  private secondsSum = 0;
  private readonly times: RecentWindow;
  /** Per second slot: which second (since the epoch) it holds, and its queries and failures. */
  private readonly slotSecond = new Float64Array(RECENT_SECONDS).fill(-1);
  private readonly slotQueries = new Uint32Array(RECENT_SECONDS);
  private readonly slotFailed = new Uint32Array(RECENT_SECONDS);
  private failedInARow = 0;
  private lastFailure: RecentQueries['lastFailure'];
  private readonly now: () => number;

  /** `now`: the wall clock the 30 s of outcomes and the lookup times' window age by (tests). */
  constructor(now: () => number = Date.now) {
    this.now = now;
    this.times = new RecentWindow(WINDOW, QUANTILE_SPAN_MS, now);
  }

  /** A query sent to the network for `name` and `type`: how long it took, and its error code if it got no records. */
  recordQuery(ms: number, error?: DnsErrorCode, name?: string, type?: string): void {
    this.queries++;
    this.secondsSum += ms / 1000;
    const failed = isFailure(error);
    if (failed) this.errors[error!] = (this.errors[error!] ?? 0) + 1;
    else { const kind = (error ?? 'NOERROR') as DnsAnswerKind; this.answers[kind] = (this.answers[kind] ?? 0) + 1; }
    this.times.add(ms);
    const second = Math.floor(this.now() / 1000);
    const slot = second % RECENT_SECONDS;
    if (this.slotSecond[slot] !== second) { this.slotSecond[slot] = second; this.slotQueries[slot] = 0; this.slotFailed[slot] = 0; }
    this.slotQueries[slot]++;
    if (failed) this.slotFailed[slot]++;
    this.failedInARow = failed ? this.failedInARow + 1 : 0;
    if (failed && name !== undefined && type !== undefined) this.lastFailure = { name, type, error: error! };
  }

  /** The queries of the last RECENT_SECONDS. */
  recent(): RecentQueries {
    const since = Math.floor(this.now() / 1000) - RECENT_SECONDS + 1;
    let queries = 0;
    let failed = 0;
    for (let i = 0; i < RECENT_SECONDS; i++) {
      if (this.slotSecond[i] < since) continue;
      queries += this.slotQueries[i];
      failed += this.slotFailed[i];
    }
    return { queries, failed, lastFailed: this.failedInARow > 0, failedInARow: this.failedInARow, ...(this.lastFailure ? { lastFailure: this.lastFailure } : {}) };
  }

  snapshot(cacheSize: number): DnsStats {
    const sorted = this.times.sorted();
    const seconds = (ms: number) => roundSeconds(ms / 1000);
    const window = sorted.length ? { p50: seconds(percentile(sorted, 0.5)), p99: seconds(percentile(sorted, 0.99)), max: seconds(sorted.at(-1)!) } : {};
    return {
      lookups: this.lookups, cache_hits: this.cacheHits, joined: this.joined, queries: this.queries,
      answers: Object.fromEntries(ANSWERS.map((c) => [c, this.answers[c] ?? 0])) as DnsStats['answers'],
      errors: Object.fromEntries(FAILURES.map((c) => [c, this.errors[c] ?? 0])) as DnsStats['errors'],
      query_duration_seconds: { ...window, sum: roundSeconds(this.secondsSum), count: this.queries },
      cache_size: cacheSize,
    };
  }
}

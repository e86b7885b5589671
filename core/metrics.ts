// Counters and timings the gateway keeps (shown by the status endpoint and written to the log at shutdown).

/** The nearest-rank percentile of ascending `sorted` (q from 0 to 1): the smallest value with at least q of all at or below it; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export class Metrics {
  readonly counters = new Map<string, number>();
  private readonly latencies: number[] = [];

  inc(name: string, by = 1): void { this.counters.set(name, (this.counters.get(name) ?? 0) + by); }

  /** Records a time-to-reply sample for DATA (kept in a bounded window). */
  observeDataMs(ms: number): void {
    this.latencies.push(ms);
    if (this.latencies.length > 10_000) this.latencies.splice(0, this.latencies.length - 10_000);
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(this.counters);
    if (this.latencies.length) {
      const sorted = [...this.latencies].sort((a, b) => a - b);
      out.data_ms_p50 = percentile(sorted, 0.5);
      out.data_ms_p99 = percentile(sorted, 0.99);
    }
    return out;
  }

  /** Prometheus text exposition of the counters. */
  prometheus(): string {
    return Object.entries(this.snapshot()).map(([k, v]) => `mailmoat_${k.replace(/[^a-zA-Z0-9_]/g, '_')} ${v}`).join('\n') + '\n';
  }
}

// Counters and timings the gateway keeps (shown by `moat metrics` and written to the log at shutdown).

/** The nearest-rank percentile of ascending `sorted` (q from 0 to 1): the smallest value with at least q of all at or below it; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Upper bounds (ms) of the DATA-time histogram's buckets: from a journaled 4 KB message to a slow scan of a big one. */
export const DATA_MS_BUCKETS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000] as const;

/** A DATA-time histogram as `moat metrics --json` shows it: cumulative counts by upper bound in ms, `+Inf` = count. */
export interface DataHistogram { buckets: Record<string, number>; sum_ms: number; count: number }

export type MetricsSnapshot = Record<string, number | DataHistogram>;

export class Metrics {
  readonly counters = new Map<string, number>();
  private readonly latencies: number[] = [];
  /** Since start, never windowed: a Prometheus histogram must only grow, or rate() reads a reset. */
  private readonly bucketCounts = new Array<number>(DATA_MS_BUCKETS.length + 1).fill(0);
  private latencySum = 0;

  inc(name: string, by = 1): void { this.counters.set(name, (this.counters.get(name) ?? 0) + by); }

  /** Records a time-to-reply sample for DATA (percentiles over a bounded window, the histogram over the whole run). */
  observeDataMs(ms: number): void {
    this.latencies.push(ms);
    if (this.latencies.length > 10_000) this.latencies.splice(0, this.latencies.length - 10_000);
    let i = 0;
    while (i < DATA_MS_BUCKETS.length && ms > DATA_MS_BUCKETS[i]) i++;
    this.bucketCounts[i]++;
    this.latencySum += ms;
  }

  snapshot(): MetricsSnapshot {
    const out: MetricsSnapshot = Object.fromEntries(this.counters);
    if (this.latencies.length) {
      const sorted = [...this.latencies].sort((a, b) => a - b);
      out.data_ms_p50 = percentile(sorted, 0.5);
      out.data_ms_p99 = percentile(sorted, 0.99);
      const buckets: Record<string, number> = {};
      let running = 0;
      DATA_MS_BUCKETS.forEach((le, i) => { running += this.bucketCounts[i]; buckets[String(le)] = running; });
      running += this.bucketCounts[DATA_MS_BUCKETS.length];
      buckets['+Inf'] = running;
      out.data_ms = { buckets, sum_ms: this.latencySum, count: running };
    }
    return out;
  }

  /** Prometheus text exposition of the snapshot. */
  prometheus(): string { return prometheusText(this.snapshot()); }
}

/** The media type of prometheusText's output (the text exposition format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Kind = 'counter' | 'gauge';
interface Family { name: string; kind: Kind | 'untyped' | 'histogram'; help: string; samples: string[] }

/**
 * What each value `moat metrics` reports is, by its key in the JSON. A counter only grows while the gateway runs
 * (a reload keeps it); a gauge goes up and down. Keys not listed here are still shown, as untyped.
 */
const KNOWN: Record<string, [Kind, string]> = {
  connections: ['counter', 'SMTP connections accepted'],
  connections_refused: ['counter', 'SMTP connections refused (limits, access.deny_ips)'],
  auth_failures: ['counter', 'AUTH attempts with wrong credentials (535)'],
  auth_refused: ['counter', 'AUTH attempts answered 454 without a password check (limits.max_auth_failures)'],
  recipients_refused: ['counter', 'RCPT TO commands refused'],
  recipients_discarded: ['counter', 'Recipients a plugin dropped silently (spam traps)'],
  relayed: ['counter', 'Messages delivered to every recipient and removed from the queue'],
  deferred: ['counter', 'Delivery attempts that left recipients for a retry'],
  bounced: ['counter', 'Delivery failure notices queued'],
  deadlettered: ['counter', 'Messages moved to the dead-letter folder'],
  deleted: ['counter', 'Messages deleted by an administrator'],
  released: ['counter', 'Messages released from hold or quarantine by an administrator'],
  requeued: ['counter', 'Messages put back in the queue from dead-letter by an administrator'],
  recipients_copied: ['counter', 'Copies of messages queued for recipients a plugin added (BCC)'],
  connections_open: ['gauge', 'SMTP connections open now'],
  queue_scheduled: ['gauge', 'Messages the relay workers schedule now (due, deferred or in flight)'],
  queue_journaled: ['gauge', 'Messages held in the journal now'],
  data_ms_p50: ['gauge', 'Median milliseconds from DATA to the final reply, over the last 10,000 messages'],
  data_ms_p99: ['gauge', '99th percentile milliseconds from DATA to the final reply, over the last 10,000 messages'],
  dns_lookups: ['counter', 'DNS lookups asked of the resolver'],
  dns_cache_hits: ['counter', 'DNS lookups answered from the cache'],
  dns_joined: ['counter', 'DNS lookups that joined a query already in flight'],
  dns_queries: ['counter', 'DNS queries sent'],
  dns_cache_size: ['gauge', 'Entries in the DNS cache'],
  dns_latency_count: ['gauge', 'DNS query times in the latency window'],
  dns_latency_mean_ms: ['gauge', 'Mean DNS query milliseconds over the window'],
  dns_latency_p50_ms: ['gauge', 'Median DNS query milliseconds over the window'],
  dns_latency_p99_ms: ['gauge', '99th percentile DNS query milliseconds over the window'],
  dns_latency_max_ms: ['gauge', 'Longest DNS query milliseconds in the window'],
};

/** `cacheHits` → `cache_hits`, anything outside [a-zA-Z0-9_] → `_`: a valid Prometheus name part. */
function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

function isHistogram(v: unknown): v is DataHistogram {
  return !!v && typeof v === 'object' && 'buckets' in v && 'count' in v && 'sum_ms' in v;
}

/**
 * Prometheus text exposition (format 0.0.4) of what `moat metrics --json` shows: every family with its HELP and TYPE
 * lines, counters named `…_total`, messages by verdict and DNS errors by code as labels, DATA time as a histogram in
 * seconds with cumulative buckets.
 */
export function prometheusText(values: Record<string, unknown>): string {
  const families = new Map<string, Family>();
  const family = (name: string, kind: Family['kind'], help: string): Family => {
    let f = families.get(name);
    if (!f) { f = { name, kind, help, samples: [] }; families.set(name, f); }
    return f;
  };
  const add = (key: string, v: number) => {
    const verdict = /^messages_(.+)$/.exec(key);
    if (verdict) {
      family('mailmoat_messages_total', 'counter', 'Messages that reached the end of DATA, by verdict (accept, reject, tempfail, quarantine, aborted…)')
        .samples.push(`mailmoat_messages_total{verdict="${labelValue(verdict[1])}"} ${num(v)}`);
      return;
    }
    const dnsError = /^dns_errors_(.+)$/.exec(key);
    if (dnsError) {
      family('mailmoat_dns_errors_total', 'counter', 'DNS queries that failed, by error')
        .samples.push(`mailmoat_dns_errors_total{error="${labelValue(dnsError[1])}"} ${num(v)}`);
      return;
    }
    const name = snake(key);
    const known = KNOWN[name];
    if (known?.[0] === 'counter') family(`mailmoat_${name}_total`, 'counter', known[1]).samples.push(`mailmoat_${name}_total ${num(v)}`);
    else if (known) family(`mailmoat_${name}`, 'gauge', known[1]).samples.push(`mailmoat_${name} ${num(v)}`);
    else family(`mailmoat_${name}`, 'untyped', `${key} as the gateway reports it`).samples.push(`mailmoat_${name} ${num(v)}`);
  };
  const walk = (prefix: string, v: unknown) => {
    if (typeof v === 'number') { add(prefix, v); return; }
    if (isHistogram(v)) {
      const f = family(`mailmoat_${snake(prefix).replace(/_ms$/, '')}_duration_seconds`, 'histogram', 'Seconds from DATA to the final reply, since the gateway started');
      for (const [le, n] of Object.entries(v.buckets)) {
        f.samples.push(`${f.name}_bucket{le="${le === '+Inf' ? '+Inf' : num(Number(le) / 1000)}"} ${num(n)}`);
      }
      f.samples.push(`${f.name}_sum ${num(v.sum_ms / 1000)}`, `${f.name}_count ${num(v.count)}`);
      return;
    }
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}_${k}` : k, x);
  };
  walk('', values);
  let out = '';
  for (const f of families.values()) out += `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.kind}\n${f.samples.join('\n')}\n`;
  return out;
}

// Counters and timings the gateway keeps (shown by `moat metrics` and written to the log at shutdown), and the
// queue's gauges by folder.
import { readdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { readStateFile } from './queue/queue-store.ts';
import { COUNTER_NAME, type PluginMetrics } from './plugin/define.ts';
import { childValues, nodeValues, processValues, standardSamples, startProcessMonitor, type NodeValues, type ProcessValues } from './process-metrics.ts';

/** The nearest-rank percentile of ascending `sorted` (q from 0 to 1): the smallest value with at least q of all at or below it; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Upper bounds (seconds) of the DATA-time histogram's buckets: from a journaled 4 KB message to a slow scan of a big one. */
export const DATA_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** The thresholds the score histogram's buckets are placed around: `scores:` as the gateway started with it. */
export interface ScoreThresholds {
  add_header?: number; quarantine?: number; tempfail?: number; reject?: number;
  levels: { low: number; medium: number; high: number };
}

/**
 * Upper bounds of the message score histogram, fixed at start (a reload that moves a threshold keeps them: a
 * Prometheus histogram whose buckets change reads as a reset). 0 parts allowlisted mail from the rest; below each
 * threshold and spam level t, the bounds t−2, t−1 and t−0.01 count the mail within 2 and 1 of it, and the mail below
 * it (scores are kept to the hundredth, so le=t−0.01 holds exactly the scores that did not reach t).
 */
export function scoreBuckets(t: ScoreThresholds): number[] {
  const marks = [t.add_header, t.quarantine, t.tempfail, t.reject, t.levels.low, t.levels.medium, t.levels.high]
    .filter((x): x is number => x !== undefined && Number.isFinite(x));
  const bounds = new Set<number>([0]);
  for (const m of marks) for (const b of [m - 2, m - 1, m - 0.01]) bounds.add(Math.round(b * 100) / 100);
  return [...bounds].sort((a, b) => a - b);
}

/** The buckets of a gateway started on the default `scores:` (add_header 5, reject 15, levels 5, 8, 12). */
const DEFAULT_SCORE_BUCKETS = scoreBuckets({ add_header: 5, reject: 15, levels: { low: 5, medium: 8, high: 12 } });

/**
 * The hooks (in snake_case, as every metric name) at which a plugin's outcome refuses a connection or a command
 * (`refusals`, `refusal_findings`); `data` is the end of DATA, where a plugin's outcome or its findings' score did.
 */
export type RefusalStage = 'connect' | 'helo' | 'mail_from' | 'rcpt_to' | 'data_start' | 'data';

/**
 * Counters with one label whose values are a fixed set, each value shown at 0 from the start: the breakdowns an
 * alert needs (a smarthost's 4xx against a network that fails, greylisting against a relay attempt) at a cardinality
 * that no client, domain or reply text can grow. The JSON keeps each total under its plain name, as before there were
 * labels, and the counts by label beside it (`relayed_by_kind`); the Prometheus text has the labeled series only.
 * Counts added to the total without a label (code that does not know one) show under `other`.
 */
export const LABELED_COUNTERS = {
  recipients_refused: {
    label: 'reason',
    values: ['relay_denied', 'rate_limit', 'too_many_recipients', 'blocked', 'unknown_recipient', 'address_form', 'helo', 'plugin', 'other'],
  },
  relayed: { label: 'kind', values: ['message', 'notice'] },
  deferred: { label: 'reason', values: ['reply_4xx', 'connect', 'tls', 'timeout', 'dns', 'other'] },
  deadlettered: { label: 'reason', values: ['rejected', 'expired'] },
  dkim_unsigned: { label: 'reason', values: ['no_key', 'key_unreadable', 'signing_error'] },
  arc_unsealed: { label: 'reason', values: ['key_unreadable', 'no_auth_results', 'chain_ended', 'sealing_error'] },
  http_connections_refused: { label: 'limit', values: ['max_connections', 'max_connections_per_ip'] },
} as const;

export type LabeledCounter = keyof typeof LABELED_COUNTERS;
export type LabelOf<K extends LabeledCounter> = (typeof LABELED_COUNTERS)[K]['values'][number];
export type RecipientRefusalReason = LabelOf<'recipients_refused'>;
export type DeferralReason = LabelOf<'deferred'>;

/** The reason of a refusal by the access policy, by the config key its log line names. */
const ACCESS_REASONS: Record<string, RecipientRefusalReason> = {
  'access.blocked_recipients': 'blocked',
  'access.recipients_file': 'unknown_recipient',
  'access.require_fqdn_addresses': 'address_form',
  'access.helo_required_fqdn': 'helo',
};

/**
 * Why the gateway itself refused a RCPT, from what its refusal carries: a rate's `limit`, the access key its line
 * names as `reason`, the 452 4.5.3 of limits.max_recipients, or the relay rule's `Relay access denied`.
 */
export function recipientRefusalReason(enhanced: string, text: string, fields?: { limit?: unknown; reason?: unknown }): RecipientRefusalReason {
  if (fields?.limit !== undefined) return 'rate_limit';
  const access = typeof fields?.reason === 'string' ? ACCESS_REASONS[fields.reason] : undefined;
  if (access) return access;
  if (enhanced === '4.5.3') return 'too_many_recipients';
  if (text.startsWith('Relay access denied')) return 'relay_denied';
  return 'other';
}

/**
 * What kept a recipient from being delivered in an attempt that leaves it for a retry, from its result: a next hop's
 * 4xx (to its envelope or data, or to the greeting, EHLO or AUTH), or no reply at all (no connection, no TLS, no
 * answer in time), or an MX lookup that failed (no host tried: `relay` absent, the gateway's own 4.4.3).
 */
export function deferralReason(r: { reply: string; hostFailure?: boolean; relay?: string }): DeferralReason {
  if (!r.hostFailure) {
    if (r.relay === undefined) return /^4\d\d 4\.4\.3 /.test(r.reply) ? 'dns' : 'other';
    return /^4\d\d[ -]/.test(r.reply) ? 'reply_4xx' : 'other';
  }
  if (/ said: 4\d\d /.test(r.reply)) return 'reply_4xx';
  if (/\bwithin \d+ ms\b/.test(r.reply)) return 'timeout';
  if (/\bTLS\b|STARTTLS|certificate/i.test(r.reply)) return 'tls';
  return 'connect';
}

/**
 * The plugin whose findings decided a verdict by score: the one whose findings add up to the most. `score` when no
 * finding scored above 0 (a threshold at or below 0).
 */
export function decidingPlugin(findings: readonly { plugin: string; score: number }[]): string {
  const sums = new Map<string, number>();
  let best = 'score';
  let bestSum = 0;
  for (const f of findings) {
    const sum = (sums.get(f.plugin) ?? 0) + f.score;
    sums.set(f.plugin, sum);
    if (sum > bestSum) { best = f.plugin; bestSum = sum; }
  }
  return best;
}

/** How a plugin's hook failed, as the `kind` label of `plugin_errors`. */
export type PluginErrorKind = 'timeout' | 'threw' | 'invalid_outcome';

/**
 * Plugin failures by `plugin\nhook\nkind`, for the whole process: the hook runner has no gateway of its own to count
 * in, and a process runs one gateway (a test that starts several in one process sees their sum).
 */
const pluginErrors = new Map<string, number>();

/** A plugin's hook that timed out, threw, or returned an outcome the core refused (the runner answered 451 for it). */
export function countPluginError(plugin: string, hook: string, kind: PluginErrorKind): void {
  const key = `${plugin}\n${snake(hook)}\n${kind}`;
  pluginErrors.set(key, (pluginErrors.get(key) ?? 0) + 1);
}

/**
 * The latest events of the last `spanMs`, at most `capacity` of them, for quantiles over a recent time: a window of
 * the last N events alone kept a quiet gateway's slow DNS answers of hours ago as its p99. Fixed arrays, so adding
 * an event allocates nothing.
 */
export class RecentWindow {
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private readonly spanMs: number;
  private readonly now: () => number;
  private next = 0;
  private size = 0;

  constructor(capacity: number, spanMs: number, now: () => number = () => performance.now()) {
    this.values = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.spanMs = spanMs;
    this.now = now;
  }

  add(value: number): void {
    this.values[this.next] = value;
    this.times[this.next] = this.now();
    this.next = (this.next + 1) % this.values.length;
    if (this.size < this.values.length) this.size++;
  }

  /** The values of the events within the span, ascending. */
  sorted(): number[] {
    const since = this.now() - this.spanMs;
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.times[i] >= since) out.push(this.values[i]);
    return out.sort((a, b) => a - b);
  }
}

/** How far back the DATA and DNS quantiles look: a slow spell shows for this long after it ended, and no longer. */
export const QUANTILE_SPAN_MS = 10 * 60_000;

/** A histogram as `moat metrics --json` shows it: cumulative counts by upper bound in seconds, `+Inf` = count. */
export interface Histogram { buckets: Record<string, number>; sum: number; count: number }

/**
 * A summary: percentiles over the events of the last QUANTILE_SPAN_MS in seconds (absent while there were none), with
 * the sum and count of every event since start.
 */
export interface WindowQuantiles { p50?: number; p99?: number; sum: number; count: number }

/** Plugins' own counters by `<plugin>_<name>`, under the snapshot's `plugins` key. */
export type PluginCounters = Record<string, number>;

/**
 * Counts by one label's value, then by the next one's (LABELED_FAMILIES names the labels): `refusals` by stage, then
 * plugin, then class; `recipients_refused` by reason.
 */
export interface LabelCounts { [value: string]: number | LabelCounts }

export type MetricsSnapshot = Record<string, number | Histogram | WindowQuantiles | PluginCounters | LabelCounts | ProcessValues | NodeValues>;

/** What message-intake counts per verdict (`messages_<verdict>`): each shown from the start, at 0 until it happens. */
const VERDICTS = ['accept', 'add_header', 'quarantine', 'reject', 'tempfail', 'aborted'] as const;

/**
 * The gateway's own counters, the fixed set its code increments (findings by symbol and plugins' counters are named
 * at run time and appear with their first count). Exported at 0 from the start: a series that first appears at 1 is
 * invisible to increase() and rate(), so the first refused recipient or uncaught error would never raise an alert.
 */
export const GATEWAY_COUNTERS: readonly string[] = [
  'connections', 'connections_refused', 'connections_closed_under_stress', 'auth_failures', 'auth_refused',
  'recipients_refused', 'recipients_discarded', 'recipients_copied', 'dkim_signed', 'dkim_unsigned', 'arc_sealed', 'arc_unsealed', 'senders_rate_limited', 'user_rate_limits_reached', 'disk_full_refusals',
  ...VERDICTS.map((v) => `messages_${v}`),
  'relayed', 'deferred', 'bounced', 'deadlettered', 'deleted', 'released', 'requeued',
  'uncaught_errors', 'event_loop_blocked', 'http_connections_refused',
];

export class Metrics {
  readonly counters = new Map<string, number>(GATEWAY_COUNTERS.map((name) => [name, 0]));
  /** LABELED_COUNTERS by name, then by label value, every value at 0 from the start. */
  private readonly labeled = new Map<string, Map<string, number>>(Object.entries(LABELED_COUNTERS)
    .map(([name, { values }]) => [name, new Map<string, number>(values.map((v) => [v, 0]))]));
  /** DATA times in seconds of the last QUANTILE_SPAN_MS (at most DATA_WINDOW of them), for the percentiles. */
  private readonly window = new RecentWindow(DATA_WINDOW, QUANTILE_SPAN_MS);
  /** Since start, never windowed: a Prometheus histogram must only grow, or rate() reads a reset. */
  private readonly bucketCounts = new Array<number>(DATA_SECONDS_BUCKETS.length + 1).fill(0);
  private secondsSum = 0;
  private dataCount = 0;
  /** Apart from `counters`, so that no plugin's name can move one of the gateway's own (`messages_…`, `dns_…`). */
  private readonly pluginCounters = new Map<string, number>();
  private readonly scoreBounds: readonly number[];
  private readonly scoreCounts: number[];
  private scoreSum = 0;
  /** Refusals by plugins, by `stage\nplugin\nclass`; the symbols those refusals recorded, by `stage\nsymbol`. */
  private readonly refusals = new Map<string, number>();
  private readonly refusalFindings = new Map<string, number>();
  /** 1 while the gateway is in stress (core/smtp/stress-mode.ts), else 0. */
  private stress = 0;
  private readonly dataDirSpace: DataDirSpace | undefined;

  /**
   * `scoreBounds`: the score histogram's buckets, from scoreBuckets() of the config the gateway starts with;
   * `dataDir`: the folder whose file system's room is shown (data_dir_free_bytes).
   */
  constructor(opts: { scoreBounds?: readonly number[]; dataDir?: string } = {}) {
    this.scoreBounds = opts.scoreBounds ?? DEFAULT_SCORE_BUCKETS;
    this.scoreCounts = new Array<number>(this.scoreBounds.length + 1).fill(0);
    this.dataDirSpace = opts.dataDir === undefined ? undefined : new DataDirSpace(opts.dataDir);
    // From the start, so the first scrape has a lag to show; one monitor per process, whatever the number of Metrics.
    startProcessMonitor();
  }

  inc(name: string, by = 1): void { this.counters.set(name, (this.counters.get(name) ?? 0) + by); }

  /** One more of a labeled counter, under `label` and in its total. */
  count<K extends LabeledCounter>(name: K, label: LabelOf<K>): void {
    const byLabel = this.labeled.get(name)!;
    byLabel.set(label, byLabel.get(label)! + 1);
    this.inc(name);
  }

  /** Stress began (true) or ended. */
  setStress(on: boolean): void { this.stress = on ? 1 : 0; }

  /**
   * What plugins count through (PluginSetup.metrics; definePlugin puts each plugin's name before its own names). One
   * object for the gateway's life, so a counter goes on growing over reloads, as Prometheus expects of a counter.
   */
  forPlugins(): PluginMetrics {
    return {
      inc: (name: string, by = 1): void => {
        if (typeof name !== 'string' || !COUNTER_NAME.test(name)) throw new Error(`plugin counter name ${JSON.stringify(name)} must be of a-z, 0-9 and _`);
        if (typeof by !== 'number' || !Number.isFinite(by) || by < 0) throw new Error(`plugin counter ${name}: ${String(by)} is not a count to add (a finite number of 0 or more)`);
        this.pluginCounters.set(name, (this.pluginCounters.get(name) ?? 0) + by);
      },
    };
  }

  /** Records a time-to-reply sample for DATA, taken in ms (percentiles over a bounded window, the histogram over the whole run). */
  observeDataMs(ms: number): void {
    const seconds = ms / 1000;
    this.window.add(seconds);
    let i = 0;
    while (i < DATA_SECONDS_BUCKETS.length && seconds > DATA_SECONDS_BUCKETS[i]) i++;
    this.bucketCounts[i]++;
    this.secondsSum += seconds;
    this.dataCount++;
  }

  /** The final score of a message that got a verdict at the end of DATA. */
  observeScore(score: number): void {
    let i = 0;
    while (i < this.scoreBounds.length && score > this.scoreBounds[i]) i++;
    this.scoreCounts[i]++;
    this.scoreSum += score;
  }

  /**
   * A connection, command or message a plugin refused (reject, tempfail or disconnect, its own failure's 451 too) at
   * `stage`, once, as `temporary` or `permanent` by the code of the reply the client got; and each symbol the refusing
   * plugin recorded in that hook run once: a blocklist's `reject_rcpt` counts per refused RCPT, not per message.
   */
  countRefusal(stage: RefusalStage, plugin: string | undefined, findings: readonly { symbol: string }[] | undefined, code: number): void {
    bump(this.refusals, `${stage}\n${plugin ?? 'unknown'}\n${code >= 500 ? 'permanent' : 'temporary'}`);
    for (const symbol of new Set((findings ?? []).map((f) => f.symbol))) bump(this.refusalFindings, `${stage}\n${symbol}`);
  }

  snapshot(): MetricsSnapshot {
    const out: MetricsSnapshot = Object.fromEntries(this.counters);
    for (const [name, byLabel] of this.labeled) out[labeledKey(name as LabeledCounter)] = labeledCounts(byLabel, this.counters.get(name) ?? 0);
    out.stress = this.stress;
    out.data_duration_seconds = histogram(DATA_SECONDS_BUCKETS, this.bucketCounts, roundSeconds(this.secondsSum));
    out.message_score = histogram(this.scoreBounds, this.scoreCounts, Math.round(this.scoreSum * 100) / 100);
    if (this.refusals.size) out.refusals = nestedCounts(this.refusals);
    if (this.refusalFindings.size) out.refusal_findings = nestedCounts(this.refusalFindings);
    if (pluginErrors.size) out.plugin_errors = nestedCounts(pluginErrors);
    const sorted = this.window.sorted();
    out.data_duration_window_seconds = {
      ...(sorted.length ? { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) } : {}),
      sum: roundSeconds(this.secondsSum), count: this.dataCount,
    };
    if (this.dataDirSpace) Object.assign(out, this.dataDirSpace.values());
    if (this.pluginCounters.size) out.plugins = Object.fromEntries([...this.pluginCounters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    // The process's own figures are read at each snapshot (a scrape): about 0.15 ms of small /proc reads on Linux.
    out.process = processValues();
    out.nodejs = nodeValues();
    const children = childValues();
    if (children) Object.assign(out, children);
    return out;
  }

  /** Prometheus text exposition of the snapshot. */
  prometheus(): string { return prometheusText(this.snapshot()); }
}

/** Cumulative buckets by upper bound from counts per bucket (the last one above every bound). */
function histogram(bounds: readonly number[], counts: readonly number[], sum: number): Histogram {
  const buckets: Record<string, number> = {};
  let running = 0;
  bounds.forEach((le, i) => { running += counts[i]; buckets[String(le)] = running; });
  running += counts[bounds.length];
  buckets['+Inf'] = running;
  return { buckets, sum, count: running };
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

/** Counts by `a\nb\nc` keys as nested objects: `{ a: { b: { c: n } } }`. */
function nestedCounts(m: Map<string, number>): LabelCounts {
  const out: LabelCounts = {};
  for (const [key, n] of m) {
    const parts = key.split('\n');
    let at = out;
    for (const p of parts.slice(0, -1)) at = (Object.hasOwn(at, p) ? at[p] : (at[p] = {})) as LabelCounts;
    at[parts.at(-1)!] = n;
  }
  return out;
}

/** Where the JSON keeps a labeled counter's counts by label value: `relayed_by_kind`. */
function labeledKey(name: LabeledCounter): string { return `${name}_by_${LABELED_COUNTERS[name].label}`; }

/** A labeled counter's counts by value, with what its total has beyond them (counted without a label) as `other`. */
function labeledCounts(byLabel: Map<string, number>, total: number): LabelCounts {
  const out: LabelCounts = Object.fromEntries(byLabel);
  let labeled = 0;
  for (const n of byLabel.values()) labeled += n;
  if (total > labeled) out.other = ((out.other as number | undefined) ?? 0) + total - labeled;
  return out;
}

/** At most how many of the DATA times of the last QUANTILE_SPAN_MS the percentiles are taken over. */
const DATA_WINDOW = 10_000;

/** How old the data_dir's free space shown may be: a scrape starts a new read when the last is older. */
export const DATA_DIR_SPACE_REFRESH_MS = 5_000;

/**
 * The room on data_dir's file system, as the queue and the state store see it. Read off the event loop (a statfs
 * through the thread pool) when a scrape finds the last reading older than DATA_DIR_SPACE_REFRESH_MS, so a scrape
 * shows the reading before it, never waits for the disk, and a gateway nobody scrapes reads nothing. No timer: the
 * gateway's stop has nothing to end.
 */
class DataDirSpace {
  private readonly dir: string;
  private last: { free: number; size: number } | undefined;
  private readAt = -Infinity;

  constructor(dir: string) {
    this.dir = dir;
    // At once, so that the first scrape has a figure.
    this.read();
  }

  values(): { data_dir_free_bytes?: number; data_dir_size_bytes?: number } {
    if (performance.now() - this.readAt >= DATA_DIR_SPACE_REFRESH_MS) this.read();
    return this.last ? { data_dir_free_bytes: this.last.free, data_dir_size_bytes: this.last.size } : {};
  }

  private read(): void {
    this.readAt = performance.now();
    // A folder that cannot be read keeps the last figures: the queue's own errors say why.
    statfs(this.dir).then((s) => { this.last = { free: s.bavail * s.bsize, size: s.blocks * s.bsize }; }, () => undefined);
  }
}

/** Seconds to the microsecond: sums of ms/1000 would otherwise show float noise (1.0299999999). */
export function roundSeconds(s: number): number { return Math.round(s * 1e6) / 1e6; }

/** The media type of prometheusText's output (the text exposition format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Kind = 'counter' | 'gauge';
interface Family { name: string; kind: Kind | 'untyped' | 'histogram' | 'summary'; help: string; samples: string[] }

/**
 * What each value `moat metrics` reports is, by its key in the JSON. A counter only grows while the gateway runs
 * (a reload keeps it); a gauge goes up and down. Keys not listed here are still shown, as untyped.
 */
const KNOWN: Record<string, [Kind, string]> = {
  connections: ['counter', 'SMTP connections accepted'],
  connections_refused: ['counter', 'SMTP connections refused (limits, access.deny_ips, improper pipelining)'],
  http_connections_refused: ['counter', 'Connections to http.listen closed unanswered, by limit: max_connections (the listener held that many) or max_connections_per_ip (the client did)'],
  connections_closed_under_stress: ['counter', 'SMTP sessions closed by server.stress_idle_timeout, idle for less than server.idle_timeout'],
  stress: ['gauge', 'Whether the gateway is in stress now (1): its connections reached server.stress_threshold of limits.max_connections, and idle clients get server.stress_idle_timeout'],
  auth_failures: ['counter', 'AUTH attempts with wrong credentials (535)'],
  auth_refused: ['counter', 'AUTH attempts answered 454 without a password check (limits.max_auth_failures)'],
  recipients_refused: ['counter', 'RCPT TO commands refused, by the gateway or by a plugin, by reason: relay_denied, rate_limit, too_many_recipients, blocked (access.blocked_recipients), unknown_recipient (access.recipients_file), address_form, helo, plugin (greylisting, recipient checks: mailmoat_refusals_total{stage="rcpt_to"} names it)'],
  senders_rate_limited: ['counter', 'MAIL FROM commands refused with 450 4.7.1 for the client\'s limits.message_rate, or its user\'s limits.user_message_rate'],
  user_rate_limits_reached: ['counter', 'Times a logged-in user went over limits.user_message_rate or user_recipient_rate (once until it is back under, each logged as user rate limit reached)'],
  disk_full_refusals: ['counter', 'Messages refused with 452 4.3.1 for a full disk: at MAIL FROM while the disk is known full, or after DATA when it filled meanwhile'],
  recipients_discarded: ['counter', 'Recipients a plugin dropped silently (spam traps)'],
  relayed: ['counter', 'Messages delivered to every recipient and removed from the queue, by kind: message (mail the gateway took) or notice (its own delivery status notices)'],
  deferred: ['counter', 'Delivery attempts that left recipients for a retry, by reason: reply_4xx (the next hop answered 4xx), connect (no connection, or it was lost), tls, timeout (no answer in time), dns (the MX lookup failed), other'],
  bounced: ['counter', 'Delivery failure notices queued'],
  deadlettered: ['counter', 'Messages moved to the dead-letter folder, by reason: rejected (a 5xx for a recipient) or expired (queue.lifetime ran out, or queue.bounce_lifetime for mail from <>)'],
  deleted: ['counter', 'Messages deleted by an administrator'],
  released: ['counter', 'Messages released from hold or quarantine by an administrator'],
  requeued: ['counter', 'Messages put back in the queue from dead-letter by an administrator'],
  recipients_copied: ['counter', 'Copies of messages queued for recipients a plugin added (BCC)'],
  dkim_signed: ['counter', 'Messages that left with the gateway\'s DKIM signature (dkim.domains): counted once a message, when a next hop first accepted it, not per attempt or destination'],
  dkim_unsigned: ['counter', 'Messages accepted for DKIM signing that left unsigned, counted as dkim_signed, by reason: no_key (a reload took its domain out of dkim.domains), key_unreadable (its key file could not be read at the last start or reload), signing_error'],
  arc_sealed: ['counter', 'Messages that left with the gateway\'s ARC set (dkim.arc): counted once a message, when a next hop first accepted it'],
  arc_unsealed: ['counter', 'Messages dkim.arc.seal_for names that left without an ARC set, counted as arc_sealed, by reason: key_unreadable (the key file could not be read at the last start or reload), no_auth_results (no Authentication-Results of the dmarc plugin\'s, or none with an arc= result for a message with a chain), chain_ended (its chain ended with cv=fail or holds 50 sets), sealing_error'],
  connections_open: ['gauge', 'SMTP connections open now'],
  queue_scheduled: ['gauge', 'Messages the relay workers schedule now (due, deferred or in flight)'],
  queue_journaled: ['gauge', 'Messages held in the journal now'],
  queue_active: ['gauge', 'Messages being delivered now'],
  queue_deferred: ['gauge', 'Messages waiting for a retry after a failed attempt (not being delivered now)'],
  queue_held: ['gauge', 'Messages an administrator put on hold (moat queue hold)'],
  queue_quarantined: ['gauge', 'Messages in the quarantine'],
  queue_deadletter: ['gauge', 'Messages in the dead-letter folder'],
  queue_oldest_age_seconds: ['gauge', 'Age of the oldest message in the queue (scheduled or held), 0 when it is empty'],
  queue_broken: ['gauge', 'Messages in the queue whose files the gateway cannot read (each logged with its file and reason; read again every 5 minutes), or that were set aside in data_dir/corrupt (by a start, a delivery attempt, a release or a requeue)'],
  config_last_reload_success: ['gauge', 'Whether the last config reload succeeded (1; 0 when it was refused); 1 from the start'],
  config_last_reload_timestamp_seconds: ['gauge', 'When the config was last loaded or a reload was tried (Unix seconds; the start time until the first reload)'],
  tls_certificate_expiry_timestamp_seconds: ['gauge', 'When the certificate the listeners serve stops being valid (Unix seconds)'],
  uncaught_errors: ['counter', 'Errors nothing caught (a floating promise rejection, a throw from a timer), logged at error level'],
  event_loop_blocked: ['counter', 'Turns of the event loop that held it 1 s or more, each logged with the plugin hook that held it when one did'],
  dns_lookups: ['counter', 'DNS lookups asked of the resolver'],
  dns_cache_hits: ['counter', 'DNS lookups answered from the cache'],
  dns_joined: ['counter', 'DNS lookups that joined a query already in flight'],
  dns_queries: ['counter', 'DNS queries sent'],
  dns_cache_size: ['gauge', 'Entries in the DNS cache'],
  data_dir_free_bytes: ['gauge', 'Bytes the gateway may still use on the file system of data_dir (statfs: blocks available to unprivileged users), read at most every 5 s'],
  data_dir_size_bytes: ['gauge', 'Size in bytes of the file system of data_dir, read at most every 5 s'],
  child_processes: ['gauge', 'Child processes of the gateway now (script sandboxes, command-line scanners)'],
  script_sandbox_children: ['gauge', 'Sandbox processes of the scripts plugin now (its pool, started per script; a dead one is replaced)'],
};

/** Help of the families built from objects of the snapshot, by their key. */
const SHAPED_HELP: Record<string, string> = {
  data_duration_seconds: 'Seconds from DATA to the final reply, since the gateway started',
  data_duration_window_seconds: 'Seconds from DATA to the final reply: quantiles over the messages of the last 10 minutes (at most 10,000; none while there were none), sum and count since start',
  message_score: 'Final scores of messages that got a verdict at the end of DATA, since the gateway started; buckets fixed at start around its scores thresholds and levels (t-2, t-1, t-0.01 each, and 0)',
  dns_query_duration_seconds: 'Seconds a DNS query took: quantiles over the queries of the last 10 minutes (at most 2048; 1 = the longest; none while there were none), sum and count since start',
};

/**
 * Counter families whose snapshot value is counts nested by label (LabelCounts), by their key in the snapshot (a
 * nested one's path joined by `_`): the labels, outermost first. LABELED_COUNTERS' help is KNOWN's.
 */
const LABELED_FAMILIES: Record<string, { labels: string[]; help?: string; family?: string }> = {
  ...Object.fromEntries(Object.entries(LABELED_COUNTERS).map(([name, { label }]) => [labeledKey(name as LabeledCounter), { labels: [label], family: name }])),
  refusals: {
    labels: ['stage', 'plugin', 'class'],
    help: 'Connections (stage connect), commands (helo, mail_from, rcpt_to, data_start) and messages at the end of DATA (data: by the plugin whose outcome or findings decided) a plugin refused, one per refusal, by stage, plugin and class (temporary: 4xx, permanent: 5xx)',
  },
  refusal_findings: {
    labels: ['stage', 'symbol'],
    help: 'Symbols the refusing plugin recorded with a refusal before DATA, one per refusal (a blocklist\'s reject_rcpt: one per refused RCPT), by stage and symbol; mailmoat_findings_total counts the findings of messages',
  },
  plugin_errors: {
    labels: ['plugin', 'hook', 'kind'],
    help: 'Plugin hooks that failed, each answered 451 (or skipped, in an observing hook): kind timeout (past the plugin\'s timeout), threw, or invalid_outcome (an outcome the core refused)',
  },
  dns_answers: {
    labels: ['answer'],
    help: 'DNS queries answered, by answer: NOERROR (records), NODATA (the name has none of that type), NXDOMAIN (no such name: a blocklist\'s usual "not listed")',
  },
  dns_errors: {
    labels: ['error'],
    help: 'DNS queries that got no answer, by error: TIMEOUT, SERVFAIL, REFUSED, OTHER (a socket error, a referral, an rcode not listed); NXDOMAIN is an answer (mailmoat_dns_answers_total)',
  },
};

/** The quantile each window key stands for. */
const QUANTILES: Record<string, string> = { p50: '0.5', p99: '0.99', max: '1' };

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

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object';

/** A histogram's buckets by bound, not by key order: JavaScript lists integer-like keys ("1", "5") before "0.005". */
export function inBoundOrder<T>(buckets: Record<string, T>): Array<[string, T]> {
  const bound = (le: string) => (le === '+Inf' ? Infinity : Number(le));
  return Object.entries(buckets).sort(([a], [b]) => bound(a) - bound(b));
}

export function isHistogram(v: unknown): v is Histogram {
  return isObject(v) && isObject(v.buckets) && typeof v.sum === 'number' && typeof v.count === 'number';
}

/** A summary: window quantiles (`p50`, `p99`, `max`; none while the window is empty) with the since-start `sum` and `count`. */
function isSummary(v: unknown): v is Partial<Record<'p50' | 'p99' | 'max', number>> & { sum: number; count: number } {
  return isObject(v) && typeof v.sum === 'number' && typeof v.count === 'number'
    && Object.entries(v).every(([k, x]) => typeof x === 'number' && (k in QUANTILES || k === 'sum' || k === 'count'));
}

/**
 * Prometheus text exposition (format 0.0.4) of what `moat metrics --json` shows: every family with its HELP and TYPE
 * lines, counters named `…_total`, messages by verdict, findings by symbol and LABELED_FAMILIES' counts as labels, DATA
 * time as a histogram in seconds with cumulative buckets, window percentiles as the quantiles of a summary.
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
    const finding = /^findings_(.+)$/.exec(key);
    if (finding) {
      family('mailmoat_findings_total', 'counter', 'Messages that reached the end of DATA with a finding, once per message, by symbol (CLAM_VIRUS: a virus found, CLAM_FAIL: no verdict from the virus scanner…); refusals before DATA: mailmoat_refusal_findings_total')
        .samples.push(`mailmoat_findings_total{symbol="${labelValue(finding[1])}"} ${num(v)}`);
      return;
    }
    const name = snake(key);
    // Its series are those of its counts by label (`relayed_by_kind`): a series without the label would count twice.
    if (Object.hasOwn(LABELED_COUNTERS, name)) return;
    const known = KNOWN[name];
    if (known?.[0] === 'counter') family(`mailmoat_${name}_total`, 'counter', known[1]).samples.push(`mailmoat_${name}_total ${num(v)}`);
    else if (known) family(`mailmoat_${name}`, 'gauge', known[1]).samples.push(`mailmoat_${name} ${num(v)}`);
    else family(`mailmoat_${name}`, 'untyped', `${key} as the gateway reports it`).samples.push(`mailmoat_${name} ${num(v)}`);
  };
  // Plugins' counters come last and keep their own name (`mailmoat_clamav_viruses_total`), unless a family of the
  // gateway's has it already (a plugin named `dns`): then under `mailmoat_plugin_…`, never a second family of one name.
  const addPlugin = (key: string, v: number) => {
    const name = snake(key);
    const full = families.has(`mailmoat_${name}_total`) ? `mailmoat_plugin_${name}_total` : `mailmoat_${name}_total`;
    family(full, 'counter', `Counted by a plugin (${key} in moat metrics)`).samples.push(`${full} ${num(v)}`);
  };
  const byLabels = (prefix: string, v: unknown): boolean => {
    const shape = LABELED_FAMILIES[prefix];
    if (!shape || !isObject(v)) return false;
    const base = shape.family ?? prefix;
    const name = `mailmoat_${base}_total`;
    const f = family(name, 'counter', shape.help ?? KNOWN[base]?.[1] ?? `${prefix} as the gateway reports it`);
    const visit = (at: Record<string, unknown>, depth: number, pairs: string) => {
      for (const [value, x] of Object.entries(at)) {
        const labels = `${pairs}${pairs ? ',' : ''}${shape.labels[depth]}="${labelValue(value)}"`;
        if (depth === shape.labels.length - 1) { if (typeof x === 'number') f.samples.push(`${name}{${labels}} ${num(x)}`); }
        else if (isObject(x)) visit(x, depth + 1, labels);
      }
    };
    visit(v, 0, '');
    return true;
  };
  const walk = (prefix: string, v: unknown) => {
    // Plugins' counters and the process's own figures get names of their own, below.
    if (prefix === 'plugins' || prefix === 'process' || prefix === 'nodejs') return;
    if (byLabels(prefix, v)) return;
    if (typeof v === 'number') { add(prefix, v); return; }
    const name = `mailmoat_${snake(prefix)}`;
    const help = SHAPED_HELP[snake(prefix)] ?? `${prefix} as the gateway reports it`;
    if (isHistogram(v)) {
      const f = family(name, 'histogram', help);
      for (const [le, n] of inBoundOrder(v.buckets)) f.samples.push(`${name}_bucket{le="${le === '+Inf' ? '+Inf' : num(Number(le))}"} ${num(n)}`);
      f.samples.push(`${name}_sum ${num(v.sum)}`, `${name}_count ${num(v.count)}`);
      return;
    }
    if (isSummary(v)) {
      // Quantiles of the recent window with the since-start sum and count: rate(_sum)/rate(_count) is the mean.
      const f = family(name, 'summary', help);
      for (const [key, q] of Object.entries(QUANTILES)) {
        const x = (v as Record<string, number | undefined>)[key];
        if (x !== undefined) f.samples.push(`${name}{quantile="${q}"} ${num(x)}`);
      }
      f.samples.push(`${name}_sum ${num(v.sum)}`, `${name}_count ${num(v.count)}`);
      return;
    }
    if (isObject(v)) for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}_${k}` : k, x);
  };
  walk('', values);
  // Under prom-client's standard names, without the gateway's prefix: any Node service's dashboard reads them.
  for (const x of standardSamples(values.process, values.nodejs)) family(x.name, x.kind, x.help).samples.push(`${x.name} ${num(x.value)}`);
  const plugins = values.plugins;
  if (plugins && typeof plugins === 'object') for (const [k, v] of Object.entries(plugins)) if (typeof v === 'number') addPlugin(k, v);
  let out = '';
  for (const f of families.values()) out += `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.kind}\n${f.samples.join('\n')}\n`;
  return out;
}

/** What the queue's gauges are read from beside the folders: the relay workers' schedule, in memory. */
export interface ScheduleView {
  /** Ids being delivered now. */
  readonly busy: string[];
  /** Every message the relay workers schedule (due, deferred or in flight). */
  scheduled(): ReadonlyArray<{ id: string; nextAttemptAt: number; receivedAt: number }>;
}

/** How often the folders are looked at: a stat each; a folder is listed again only when its entries changed. */
export const QUEUE_GAUGES_REFRESH_MS = 5_000;

/** Folder state from its last listing: the folder's mtime then, and what was counted. */
interface Listing { mtimeMs: number; count: number }

/**
 * The queue's gauges by folder, as Postfix admins watch the active, deferred and hold queues (qshape) and PMG's the
 * quarantine. Scheduled messages are counted from the relay workers' memory at each read. Held, quarantined and
 * dead-lettered ones live only on disk: each folder is listed (names only) when its mtime says an entry was added or
 * removed, at most every QUEUE_GAUGES_REFRESH_MS and off the event loop, so a scrape never reads a folder, and a
 * large idle queue costs three stats per interval. Held messages are those of `queue/` with a state file that the
 * workers do not schedule; each one's state file is read once, for its arrival time.
 */
export class QueueGauges {
  private readonly dirs: { queue: string; quarantine: string; deadletter: string };
  private readonly schedule: ScheduleView;
  private readonly listings: Partial<Record<'queue' | 'quarantine' | 'deadletter', Listing>> = {};
  /** Held messages by id, with their arrival time. */
  private held = new Map<string, number>();
  private refreshing?: Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(dirs: { queue: string; quarantine: string; deadletter: string }, schedule: ScheduleView) {
    this.dirs = dirs;
    this.schedule = schedule;
  }

  /** The gauges now; the folder counts are those of the last refresh. */
  values(now = Date.now()): Record<string, number> {
    const busy = new Set(this.schedule.busy);
    let deferred = 0;
    let oldest = Infinity;
    // A message released since the last refresh is scheduled already: counted there, not as held.
    const released = new Set<string>();
    for (const e of this.schedule.scheduled()) {
      // As `moat queue list` says it (core/queue/inspect.ts listRow): waiting for a later attempt, not due now.
      if (!busy.has(e.id) && e.nextAttemptAt > now) deferred++;
      if (e.receivedAt < oldest) oldest = e.receivedAt;
      if (this.held.has(e.id)) released.add(e.id);
    }
    for (const [id, at] of this.held) if (!released.has(id) && at < oldest) oldest = at;
    return {
      queue_active: busy.size,
      queue_deferred: deferred,
      queue_held: this.held.size - released.size,
      queue_quarantined: this.listings.quarantine?.count ?? 0,
      queue_deadletter: this.listings.deadletter?.count ?? 0,
      queue_oldest_age_seconds: Number.isFinite(oldest) ? Math.max(0, Math.round((now - oldest) / 1000)) : 0,
    };
  }

  /** Lists the folders that changed since they were last listed; one refresh at a time (a caller during one waits for it). */
  refresh(): Promise<void> {
    this.refreshing ??= this.refreshChanged().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  /**
   * A refresh that sees every change made before the call: one already under way may have listed a folder before
   * it, so it is waited for and a new one runs (a retention sweep calls this once it has expired messages).
   */
  async recount(): Promise<void> {
    await this.refreshing?.catch(() => undefined);
    return this.refresh();
  }

  /** Refreshes every `everyMs` until stop(); a refresh that fails keeps the last counts and is tried again. */
  start(everyMs = QUEUE_GAUGES_REFRESH_MS): void {
    this.timer = setInterval(() => { this.refresh().catch(() => undefined); }, everyMs);
    this.timer.unref();
  }

  stop(): void { clearInterval(this.timer); }

  private async refreshChanged(): Promise<void> {
    for (const folder of ['quarantine', 'deadletter'] as const) {
      const names = await this.changedNames(folder);
      if (names) this.listings[folder]!.count = names.filter((n) => n.endsWith('.eml')).length;
    }
    const names = await this.changedNames('queue');
    if (!names) return;
    const all = new Set(names);
    const scheduled = new Set(this.schedule.scheduled().map((e) => e.id));
    const held = new Map<string, number>();
    let sliceStart = performance.now();
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const id = n.slice(0, -'.json'.length);
      // A state file of its own beside a message no worker schedules: on hold, or moving between folders right now.
      if (id.includes('.') || !all.has(`${id}.eml`) || scheduled.has(id)) continue;
      const known = this.held.get(id);
      if (known !== undefined) { held.set(id, known); continue; }
      const receivedAt = heldSince(path.join(this.dirs.queue, n));
      if (receivedAt !== undefined) held.set(id, receivedAt);
      // Read synchronously, as the queue store reads state files (a few KB in the page cache: through the thread
      // pool each costs more in hand-offs than in reading), in slices between which the event loop runs.
      if (performance.now() - sliceStart > READ_SLICE_MS) { await new Promise((r) => setImmediate(r)); sliceStart = performance.now(); }
    }
    this.held = held;
  }

  /** The folder's names when its entries changed since the last listing (by its mtime), else undefined. */
  private async changedNames(folder: 'queue' | 'quarantine' | 'deadletter'): Promise<string[] | undefined> {
    const dir = this.dirs[folder];
    // Taken before the listing: a change made while it runs moves the mtime past this one and is listed next time.
    const { mtimeMs } = await stat(dir);
    const last = this.listings[folder];
    if (last && last.mtimeMs === mtimeMs) return undefined;
    const names = await readdir(dir);
    // A change within the file system's clock tick of this one leaves the mtime as it is: a recent mtime is not trusted.
    this.listings[folder] = { mtimeMs: Date.now() - mtimeMs > 1000 ? mtimeMs : NaN, count: last?.count ?? 0 };
    return names;
  }
}

/** The longest the event loop waits while held messages' state files are read. */
const READ_SLICE_MS = 10;

/** The arrival time of a message whose state file says it is held; undefined when it is not (or is gone, or unreadable). */
function heldSince(file: string): number | undefined {
  try {
    const e = readStateFile(file);
    return e?.held === true && typeof e.receivedAt === 'number' ? e.receivedAt : undefined;
  } catch {
    return undefined;
  }
}

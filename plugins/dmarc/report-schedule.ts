// When reports are built: once an interval has ended (one gateway of several, under a lock in the shared store), and
// at once when `moat dmarc report --now` asks. A failure is logged and the period tried again an interval later; it
// never reaches mail flow, which only ever writes records. A report is built once and kept until each destination is
// settled: one that failed for now (the queue, a lookup that timed out) gets that same report an interval later.
import { randomBytes } from 'node:crypto';
import type { Logger, PluginMetrics, StateStore } from '../../core/index.ts';
import { answerRequest, pendingRequest, type ReportAnswer } from './report-request.ts';
import type { PendingReport } from './report-pending.ts';
import { buildReport, sendTo, type ReportDeps, type ReportSummary } from './report-sender.ts';
import type { ReportStore } from './report-store.ts';

/** How often a gateway looks for a request and for an ended period: a GET and an SMEMBERS. */
export const TICK_MS = 2000;
/** How long after its end a period is reported: records a gateway with a clock a little behind writes still count. */
export const GRACE_MS = 5 * 60_000;
const LOCK_KEY = 'dmarc:rua:building';
const LOCK_TTL_MS = 15 * 60_000;
const waitKey = (p: number) => `dmarc:rua:wait:${p}`;

export interface SchedulerDeps {
  store: StateStore;
  reports: ReportStore;
  send: ReportDeps;
  intervalMs: number;
  hostname: string;
  log: Logger;
  metrics?: PluginMetrics;
  now?: () => number;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** What one pass made of a domain's reports: each report it sent, and the destinations left for the next interval. */
interface DomainPass {
  summaries: ReportSummary[];
  unsettled: Array<{ reportId: string; address: string; why: string }>;
}

export class ReportScheduler {
  private readonly d: SchedulerDeps;
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private lastFailure?: string;

  constructor(d: SchedulerDeps) {
    this.d = d;
    this.now = d.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => { void this.tick(); }, TICK_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One look: answers a waiting request, else reports the periods that are due. Never throws. */
  async tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.look().then(() => { this.lastFailure = undefined; }, (e) => this.failed(message(e)));
    try { await this.running; } finally { this.running = undefined; }
  }

  /** A look that failed (the store away): said once, not every TICK_MS while it lasts. */
  private failed(error: string): void {
    if (error !== this.lastFailure) this.d.log.warn('dmarc reporting: cannot look for reports to send; trying again every 2 s', { error });
    this.lastFailure = error;
  }

  private async look(): Promise<void> {
    if (!await pendingRequest(this.d.store) && !(await this.duePeriods(this.now())).length) return;
    const token = `${this.d.hostname} ${randomBytes(6).toString('hex')}`;
    // Another gateway is at it: it answers the request, or reports the periods, itself.
    if (!await this.d.store.add(LOCK_KEY, token, LOCK_TTL_MS)) return;
    try {
      // Asked again under the lock: the gateway that held it before may have answered or reported meanwhile.
      const request = await pendingRequest(this.d.store);
      const now = this.now();
      const due = request ? [] : await this.duePeriods(now);
      if (request) {
        const answer = await this.build(await this.d.reports.periods(), now);
        await answerRequest(this.d.store, request, answer);
      } else {
        await this.build(due, now);
      }
    } finally {
      if (await this.d.store.get(LOCK_KEY) === token) await this.d.store.del(LOCK_KEY);
    }
  }

  /** Periods that ended (and their grace passed), not waiting after a failure; those past their retention are forgotten. */
  private async duePeriods(now: number): Promise<number[]> {
    const due: number[] = [];
    for (const p of await this.d.reports.periods()) {
      if (p + this.d.intervalMs + GRACE_MS > now) continue;
      if (this.d.reports.pastRetention(p, now)) {
        await this.d.reports.clear(p);
        this.d.log.warn('dmarc reporting: a period past its retention was forgotten, its reports not all sent', { period: new Date(p).toISOString() });
        continue;
      }
      if (await this.d.store.get(waitKey(p))) continue;
      due.push(p);
    }
    return due;
  }

  /** Reports each domain of `periods` up to `now` (a period's end, for one that ended). */
  async build(periods: readonly number[], now: number): Promise<Omit<ReportAnswer, 'id'>> {
    const reports: ReportSummary[] = [];
    const failed: ReportAnswer['failed'] = [];
    for (const p of periods) {
      const ended = p + this.d.intervalMs <= now;
      const endMs = ended ? p + this.d.intervalMs : now;
      let complete = true;
      const overDomains = await this.d.reports.takeOverDomains(p);
      if (overDomains) this.d.log.warn('dmarc reporting: messages of domains beyond max_domains were not recorded', { period: new Date(p).toISOString(), messages: overDomains });
      for (const domain of await this.d.reports.domains(p)) {
        try {
          const pass = await this.reportDomain(p, domain, endMs);
          reports.push(...pass.summaries);
          for (const u of pass.unsettled) {
            complete = false;
            failed.push({ domain, error: `report ${u.reportId} not sent to ${u.address}: ${u.why}` });
            this.d.metrics?.inc('report_failures');
            this.d.log.warn('dmarc report not sent to a destination; the same report is tried again at the next interval', {
              domain, period: new Date(p).toISOString(), report_id: u.reportId, to: u.address, error: u.why,
            });
          }
        } catch (e) {
          complete = false;
          failed.push({ domain, error: message(e) });
          this.d.metrics?.inc('report_failures');
          this.d.log.warn('dmarc report not sent; tried again at the next interval', { domain, period: new Date(p).toISOString(), error: message(e) });
        }
        await this.d.store.expire(LOCK_KEY, LOCK_TTL_MS);
      }
      if (!ended) continue;
      if (complete) await this.d.reports.clear(p);
      else await this.d.store.set(waitKey(p), '1', this.d.intervalMs);
    }
    return { by: this.d.hostname, reports, failed };
  }

  /**
   * Reports `domain`'s records of `p` up to `endMs`: first sends the report kept for destinations not yet settled,
   * then, once none is left, builds one of the records since and sends it.
   */
  private async reportDomain(p: number, domain: string, endMs: number): Promise<DomainPass> {
    const pass: DomainPass = { summaries: [], unsettled: [] };
    const waiting = await this.d.reports.pending(p, domain);
    if (waiting) {
      await this.settle(p, domain, waiting, pass);
      // One report of a domain and period waits at a time: the records since wait with it.
      if (pass.unsettled.length) return pass;
    }
    const taken = await this.d.reports.read(p, domain);
    if (taken.unreadable) this.d.log.warn('dmarc reporting: stored records that could not be read were left out', { domain, records: taken.unreadable });
    if (!taken.rows.length && !taken.over) return pass;
    if (!taken.policy) throw new Error('the published policy of the domain is missing from the store');
    if (taken.over) this.d.log.warn('dmarc reporting: messages beyond max_records counted, not itemised', { domain, messages: taken.over });
    const { report, unused } = await buildReport(this.d.send, taken, taken.since, endMs);
    // Kept before the records are taken off: a failure between the two may count them twice, never loses them.
    await this.d.reports.keepPending(p, domain, report);
    await this.d.reports.consume(p, domain, taken, endMs, endMs === p + this.d.intervalMs);
    for (const u of unused) this.d.log.info('dmarc report destination skipped', { domain, uri: u.uri, why: u.why });
    await this.settle(p, domain, report, pass, unused);
    return pass;
  }

  /** Sends `report` to each destination it lists, keeping it for those that failed for now and dropping it after. */
  private async settle(p: number, domain: string, report: PendingReport, pass: DomainPass, unused: ReportSummary['skipped'] = []): Promise<void> {
    const summary: ReportSummary = {
      domain, reportId: report.reportId, begin: report.begin, end: report.end, records: report.records, messages: report.messages,
      bytes: report.gzip.length, sent: [], skipped: [...unused],
    };
    let left = report.to;
    for (const to of report.to) {
      const attempt = await sendTo(this.d.send, domain, report, to);
      if ('retry' in attempt) {
        pass.unsettled.push({ reportId: report.reportId, address: to.address, why: attempt.retry });
        continue;
      }
      if ('qid' in attempt) summary.sent.push({ address: to.address, qid: attempt.qid });
      else {
        summary.skipped.push({ uri: to.uri, why: attempt.refused });
        this.d.log.info('dmarc report destination skipped', { domain, uri: to.uri, why: attempt.refused });
      }
      left = left.filter((x) => x !== to);
      // Written at once, so that a failure later in this pass does not send this destination the report again.
      if (left.length) await this.d.reports.keepPending(p, domain, { ...report, to: left });
    }
    if (!left.length) await this.d.reports.dropPending(p, domain);
    this.d.metrics?.inc('reports_sent', summary.sent.length);
    this.d.metrics?.inc('report_destinations_skipped', summary.skipped.length);
    if (summary.sent.length || !left.length) {
      this.d.log.info(summary.sent.length ? 'dmarc aggregate report queued' : 'dmarc aggregate report not sent: no destination may have it', {
        domain, report_id: summary.reportId, begin: summary.begin, end: summary.end, records: summary.records, messages: summary.messages,
        bytes: summary.bytes, to: summary.sent.map((s) => s.address), qids: summary.sent.map((s) => s.qid),
      });
    }
    pass.summaries.push(summary);
  }
}

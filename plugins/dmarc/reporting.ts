// Aggregate reporting as the plugin runs it: records written in afterVerdict, reports built by the scheduler.
import type { HookContext, PluginSetup } from '../../core/index.ts';
import { receiverDomain, type ReportingConfig } from './report-config.ts';
import { settledRecord } from './report-disposition.ts';
import { takeReportFacts } from './report-facts.ts';
import { ReportScheduler } from './report-schedule.ts';
import { ReportStore } from './report-store.ts';

/** How often a gateway that sends no reports forgets the periods past their retention (one that sends does as it looks). */
const SWEEP_MS = 3_600_000;

export class Reporting {
  private readonly cfg: ReportingConfig;
  private readonly enforce: boolean;
  private readonly setup: PluginSetup;
  private readonly reports: ReportStore;
  private readonly scheduler?: ReportScheduler;
  /** Domains whose max_records was reached in a period, said once each by this process. */
  private readonly capped = new Set<string>();
  private sweeper?: NodeJS.Timeout;
  private sweeping?: Promise<unknown>;

  constructor(cfg: ReportingConfig, enforce: boolean, setup: PluginSetup) {
    this.cfg = cfg;
    this.enforce = enforce;
    this.setup = setup;
    const store = setup.services.store;
    this.reports = new ReportStore(store, { intervalMs: cfg.interval, maxRecords: cfg.max_records, maxDomains: cfg.max_domains });
    const own = setup.services.ownMail;
    if (!own) {
      setup.log.warn('dmarc reporting: records are kept, but no report can be sent here: the gateway queues no mail of its own');
      // Another gateway sharing the store may report them; if none does, they must still go when their time is up.
      this.sweeper = setInterval(() => {
        this.sweeping ??= this.reports.sweep(Date.now())
          .catch((e) => setup.log.warn('dmarc reporting: periods past their retention not forgotten; tried again in an hour', { error: (e as Error).message }))
          .finally(() => { this.sweeping = undefined; });
      }, SWEEP_MS);
      this.sweeper.unref();
      return;
    }
    this.scheduler = new ReportScheduler({
      store, reports: this.reports, intervalMs: cfg.interval, hostname: setup.services.hostname, log: setup.log, metrics: setup.metrics,
      send: { cfg, receiver: receiverDomain(cfg), dns: setup.services.dns, queue: (to, data) => own.queue(to, data), log: setup.log },
    });
    this.scheduler.start();
  }

  /** afterVerdict: writes the records the data hook kept, with what the gateway did. A store failure is only logged. */
  async afterVerdict(ctx: HookContext): Promise<void> {
    const pending = takeReportFacts(ctx);
    if (!pending.length || !ctx.verdict || ctx.session.check) return;
    for (const p of pending) {
      const record = settledRecord(p, ctx.verdict, this.enforce);
      if (!record) continue;
      try {
        const outcome = await this.reports.record(Date.now(), p.policy, record);
        if (outcome === 'recorded') continue;
        this.setup.metrics?.inc(outcome === 'over-records' ? 'report_records_capped' : 'report_domains_capped');
        const key = `${this.reports.periodOf(Date.now())} ${outcome === 'over-records' ? p.policy.domain : '*'}`;
        if (this.capped.has(key)) continue;
        if (this.capped.size > 10_000) this.capped.clear();
        this.capped.add(key);
        ctx.log.warn(outcome === 'over-records'
          ? 'dmarc reporting: max_records reached for the domain; further messages are counted, not itemised'
          : 'dmarc reporting: max_domains reached; messages of further domains are not recorded', { domain: p.policy.domain });
      } catch (e) {
        ctx.log.warn('dmarc reporting: record not written', { domain: p.policy.domain, error: (e as Error).message });
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.sweeping;
    await this.scheduler?.close();
  }
}

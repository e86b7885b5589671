// What the report store and scheduler tests share: a policy domain that asks for reports, records of it, reporters
// over one in-process store with the test's clock, and the XML of a report as it would be mailed.
import { gunzipSync } from 'node:zlib';
import { simpleParser } from 'mailparser';
import { DnsError, type DnsResolver, type Logger } from '../../../core/index.ts';
import type { MemoryStore } from '../../../core/store/memory-store.ts';
import { ReportStore } from '../../../plugins/dmarc/report-store.ts';
import { ReportScheduler } from '../../../plugins/dmarc/report-schedule.ts';
import type { PolicyPublished, ReportRecord } from '../../../plugins/dmarc/report-record.ts';
import type { ReportingConfig } from '../../../plugins/dmarc/report-config.ts';

export const DAY = 86_400_000;
/** A morning of 21 November 2026 (UTC); its day ends at DAY_END. */
export const T0 = Date.UTC(2026, 10, 21, 9, 30);
export const DAY_START = Date.UTC(2026, 10, 21);
export const DAY_END = Date.UTC(2026, 10, 22);

export const policy: PolicyPublished = { domain: 'sender.test', adkim: 'r', aspf: 'r', p: 'reject', sp: 'reject', pct: 100, fo: '0', rua: 'mailto:dmarc@sender.test' };

export const record = (ip: string): ReportRecord => ({
  sourceIp: ip, headerFrom: 'sender.test', envelopeFrom: 'sender.test', disposition: 'none', dkim: 'pass', spf: 'pass', reasons: [],
  dkimAuth: [{ domain: 'sender.test', selector: 'sel', result: 'pass' }], spfAuth: { domain: 'sender.test', scope: 'mfrom', result: 'pass' },
});

export const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };
/** For destinations in the policy domain's own organisation, which need no authorisation looked up. */
export const noDns = { resolveTxt: async (name: string) => { throw new DnsError('NXDOMAIN', name, 'TXT'); } } as unknown as DnsResolver;

export interface Queued { to: readonly string[]; data: Buffer }

export const reporting = (over: Partial<ReportingConfig> = {}): ReportingConfig => ({
  enabled: true, org_name: 'Receiver', email: 'dmarc@receiver.test', interval: DAY, max_size: undefined, domains_only: [], max_records: 200, max_domains: 1000, ...over,
});

export interface ReporterOptions {
  cfg?: Partial<ReportingConfig>;
  dns?: DnsResolver;
  /** Queues a report; the default keeps it in the list the reporter was given. */
  queue?: (to: readonly string[], data: Buffer) => Promise<string>;
  log?: Logger;
}

/** A gateway's reporting over `store`: its record store and its scheduler, with the test's clock. */
export function reporter(store: MemoryStore, clock: { now: number }, sent: Queued[], o: ReporterOptions = {}) {
  const cfg = reporting(o.cfg);
  const reports = new ReportStore(store, { intervalMs: cfg.interval, maxRecords: cfg.max_records, maxDomains: cfg.max_domains });
  const keep = async (to: readonly string[], data: Buffer) => { sent.push({ to, data }); return `q${sent.length}`; };
  const scheduler = new ReportScheduler({
    store, reports, intervalMs: cfg.interval, hostname: 'mx.receiver.test', log: o.log ?? quiet, now: () => clock.now,
    send: { cfg, receiver: 'receiver.test', dns: o.dns ?? noDns, log: o.log ?? quiet, queue: o.queue ?? keep },
  });
  return { reports, scheduler };
}

/** The gzipped file of a queued report, as it was attached. */
export async function fileOf(q: Queued): Promise<Buffer> {
  return (await simpleParser(q.data)).attachments[0].content;
}

export async function xmlOf(q: Queued): Promise<string> {
  return gunzipSync(await fileOf(q)).toString('utf8');
}

/** The wait a failure sets on period `p` (an interval), taken away as its expiry would an interval later. */
export async function intervalPasses(store: MemoryStore, p: number): Promise<void> {
  await store.del(`dmarc:rua:wait:${p}`);
}

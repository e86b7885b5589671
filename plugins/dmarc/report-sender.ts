// One policy domain's report of one period: the XML, gzipped, built once, then mailed to each rua= destination that
// may have it, one destination at a time.
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { DnsError, type DnsResolver, type Logger } from '../../core/index.ts';
import { aligns } from './alignment.ts';
import type { ReportingConfig } from './report-config.ts';
import { reportMessage } from './report-mail.ts';
import type { PendingReport } from './report-pending.ts';
import { MAX_ROW_BYTES, type DomainRecords } from './report-store.ts';
import { reportAddresses, type ReportAddress, type UnusedUri } from './report-uri.ts';
import { reportXml } from './report-xml.ts';

const gzip = promisify(gzipCallback);

export interface ReportDeps {
  cfg: ReportingConfig;
  /** Our domain (the domain of reporting.email). */
  receiver: string;
  dns: DnsResolver;
  queue(to: readonly string[], data: Buffer): Promise<string>;
  log: Logger;
}

/** What became of one report, for the log and `moat dmarc report --now`. */
export interface ReportSummary {
  domain: string;
  reportId: string;
  begin: number;
  end: number;
  records: number;
  messages: number;
  /** Size of the gzipped XML. */
  bytes: number;
  sent: Array<{ address: string; qid: string }>;
  skipped: UnusedUri[];
}

/** Why a destination does not get a report: for good (`temporary` false), or for now, to be tried again. */
export interface Refusal { why: string; temporary: boolean }

/**
 * Why `to` may not have reports about `policyDomain`, or undefined when it may: a destination outside the policy
 * domain's organisational domain must publish `<policy-domain>._report._dmarc.<its domain>` starting `v=DMARC1`
 * (RFC 7489 7.1), or anyone could have us mail reports to a third party. No such name or record is a refusal; a
 * lookup that timed out or failed at the server says nothing yet.
 */
export async function externalProblem(dns: DnsResolver, policyDomain: string, to: ReportAddress): Promise<Refusal | undefined> {
  if (aligns(to.domain, policyDomain, false)) return undefined;
  const name = `${policyDomain}._report._dmarc.${to.domain}`;
  try {
    const records = await dns.resolveTxt(name);
    return records.some((r) => /^v=DMARC1(;|\s|$)/i.test(r.trim())) ? undefined : { why: `external destination not authorised: ${name} has no v=DMARC1 record`, temporary: false };
  } catch (e) {
    if (e instanceof DnsError && e.notFound) return { why: `external destination not authorised: no TXT record at ${name}`, temporary: false };
    const temporary = !(e instanceof DnsError) || e.temporary;
    return { why: `external destination not checked: the lookup of ${name} failed (${(e as Error).message})`, temporary };
  }
}

/** Seconds since the epoch, as date_range counts them. */
const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * The report of `taken` for [beginMs, endMs), with a new id, addressed to every mailto: destination of the domain's
 * rua= (`unused`: the URIs it names that are none). `notes` go to report_metadata/error.
 */
export async function buildReport(deps: ReportDeps, taken: DomainRecords, beginMs: number, endMs: number, notes: string[] = []): Promise<{ report: PendingReport; unused: UnusedUri[] }> {
  const policy = taken.policy!;
  const { cfg, receiver } = deps;
  const begin = seconds(beginMs);
  const end = Math.max(begin, seconds(endMs) - 1);
  const reportId = `${policy.domain}.${begin}.${randomBytes(4).toString('hex')}@${receiver}`;
  const errors = [...notes];
  if (taken.over) errors.push(`${taken.over} messages not itemised: past ${cfg.max_records} distinct records for this domain, or in records of more than ${MAX_ROW_BYTES} bytes`);
  const xml = reportXml({
    orgName: cfg.org_name ?? '', email: cfg.email ?? '', reportId, begin, end, errors, policy,
    records: taken.rows.map((r) => ({ record: r.record, count: r.count })),
  });
  const { addresses, unused } = reportAddresses(policy.rua);
  const report: PendingReport = {
    reportId, begin, end, records: taken.rows.length, messages: taken.rows.reduce((n, r) => n + r.count, 0) + taken.over,
    gzip: await gzip(Buffer.from(xml, 'utf8')), to: addresses,
  };
  return { report, unused };
}

/** What one attempt to send a report to one destination came to. */
export type Attempt = { qid: string } | { refused: string } | { retry: string };

/** Sends `report` about `policyDomain` to `to`: queued, refused for good (not authorised, too large), or to try again. */
export async function sendTo(deps: ReportDeps, policyDomain: string, report: PendingReport, to: ReportAddress): Promise<Attempt> {
  const { cfg, receiver } = deps;
  const data = reportMessage({
    from: cfg.email ?? '', to: to.address, orgName: cfg.org_name ?? '', receiver, policyDomain,
    reportId: report.reportId, begin: report.begin, end: report.end, gzip: report.gzip,
  });
  if (to.maxBytes !== undefined && data.length > to.maxBytes) return { refused: `report of ${data.length} bytes is over the destination's limit of ${to.maxBytes} bytes` };
  if (cfg.max_size !== undefined && data.length > cfg.max_size) return { refused: `report of ${data.length} bytes is over reporting.max_size (${cfg.max_size} bytes)` };
  const problem = await externalProblem(deps.dns, policyDomain, to);
  if (problem) return problem.temporary ? { retry: problem.why } : { refused: problem.why };
  try {
    return { qid: await deps.queue([to.address], data) };
  } catch (e) {
    return { retry: `not queued: ${(e as Error).message}` };
  }
}

// One policy domain's report of one period: the XML, gzipped, mailed to each rua= destination that may have it.
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { DnsError, type DnsResolver, type Logger } from '../../core/index.ts';
import { aligns } from './alignment.ts';
import type { ReportingConfig } from './report-config.ts';
import { reportMessage } from './report-mail.ts';
import type { DomainRecords } from './report-store.ts';
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

/**
 * Why `to` may not have reports about `policyDomain`, or undefined when it may: a destination outside the policy
 * domain's organisational domain must publish `<policy-domain>._report._dmarc.<its domain>` starting `v=DMARC1`
 * (RFC 7489 7.1), or anyone could have us mail reports to a third party.
 */
export async function externalProblem(dns: DnsResolver, policyDomain: string, to: ReportAddress): Promise<string | undefined> {
  if (aligns(to.domain, policyDomain, false)) return undefined;
  const name = `${policyDomain}._report._dmarc.${to.domain}`;
  try {
    const records = await dns.resolveTxt(name);
    return records.some((r) => /^v=DMARC1(;|\s|$)/i.test(r.trim())) ? undefined : `external destination not authorised: ${name} has no v=DMARC1 record`;
  } catch (e) {
    if (e instanceof DnsError && e.notFound) return `external destination not authorised: no TXT record at ${name}`;
    return `external destination not checked: the lookup of ${name} failed (${(e as Error).message})`;
  }
}

/** Seconds since the epoch, as date_range counts them. */
const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * Builds the report of `taken` for [beginMs, endMs) and queues it to each destination that may have it; throws when
 * one cannot be queued (the records stay, for the next interval). `notes` go to report_metadata/error.
 */
export async function sendReport(deps: ReportDeps, taken: DomainRecords, beginMs: number, endMs: number, notes: string[] = []): Promise<ReportSummary> {
  const policy = taken.policy!;
  const { cfg, receiver } = deps;
  const begin = seconds(beginMs);
  const end = Math.max(begin, seconds(endMs) - 1);
  const reportId = `${policy.domain}.${begin}.${randomBytes(4).toString('hex')}@${receiver}`;
  const errors = [...notes];
  if (taken.over) errors.push(`${taken.over} messages not itemised: more than ${cfg.max_records} distinct records for this domain`);
  const xml = reportXml({
    orgName: cfg.org_name ?? '', email: cfg.email ?? '', reportId, begin, end, errors, policy,
    records: taken.rows.map((r) => ({ record: r.record, count: r.count })),
  });
  const file = await gzip(Buffer.from(xml, 'utf8'));
  const { addresses, unused } = reportAddresses(policy.rua);
  const summary: ReportSummary = {
    domain: policy.domain, reportId, begin, end, records: taken.rows.length,
    messages: taken.rows.reduce((n, r) => n + r.count, 0) + taken.over, bytes: file.length, sent: [], skipped: [...unused],
  };
  for (const to of addresses) {
    const data = reportMessage({ from: cfg.email ?? '', to: to.address, orgName: cfg.org_name ?? '', receiver, policyDomain: policy.domain, reportId, begin, end, gzip: file });
    const why = await externalProblem(deps.dns, policy.domain, to)
      ?? (to.maxBytes !== undefined && data.length > to.maxBytes ? `report of ${data.length} bytes is over the destination's limit of ${to.maxBytes} bytes` : undefined)
      ?? (cfg.max_size !== undefined && data.length > cfg.max_size ? `report of ${data.length} bytes is over reporting.max_size (${cfg.max_size} bytes)` : undefined);
    if (why) {
      summary.skipped.push({ uri: to.uri, why });
      continue;
    }
    const qid = await deps.queue([to.address], data);
    summary.sent.push({ address: to.address, qid });
  }
  for (const s of summary.skipped) deps.log.info('dmarc report destination skipped', { domain: policy.domain, uri: s.uri, why: s.why });
  return summary;
}

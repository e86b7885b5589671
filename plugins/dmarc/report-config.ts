// Options of DMARC aggregate reporting (RFC 7489 7.2): the `reporting` mapping of the dmarc plugin's entry.
import { s, type Infer, type Issue } from '../../core/index.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** An address as a report's From and contact may name it: one `local@domain`, no display name or brackets. */
const ADDRESS = /^[^\s@<>"(),;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

const options = s.object({
  enabled: s.boolean().default(false)
    .describe('Record the DMARC results of domains that ask for aggregate reports (rua=) and mail them a report each interval'),
  org_name: s.string().optionalValue()
    .describe('The reporting organisation\'s name, as report_metadata/org_name; required when enabled'),
  email: s.string({ pattern: ADDRESS, patternName: 'an address such as dmarc-reports@example.net' }).optionalValue()
    .describe('The report\'s From and contact address (report_metadata/email); its domain names us as the receiver in the file name and Subject; required when enabled'),
  interval: s.duration({ min: HOUR, max: DAY }).default(DAY)
    .describe('The period one report covers, aligned to UTC (24h: one report per UTC day); it must divide a day into whole parts'),
  max_size: s.size({ min: 1024 }).optionalValue()
    .describe('Largest report message we send, whatever a rua= size limit allows; a larger one is logged and not sent'),
  domains_only: s.array(s.string({ minLength: 1 })).default([])
    .describe('When not empty, only these policy domains are recorded and reported'),
  // A record groups the messages of one client with one set of results: a domain's own servers and its mail services
  // make tens of them a day at a site; only a forged flood (each message a new envelope domain or signature) needs
  // more. Together the two caps bound the store: see the README, Aggregate reports.
  max_records: s.number({ integer: true, min: 1, max: 100_000 }).default(200)
    .describe('Distinct records kept per policy domain and interval (each at most 1 KB); messages beyond it are counted, logged and noted in the report\'s error element'),
  max_domains: s.number({ integer: true, min: 1, max: 1_000_000 }).default(1000)
    .describe('Policy domains recorded per interval; messages of further domains are counted and logged, not recorded'),
});

function checkReporting(cfg: Infer<typeof options>, at: string, issues: Issue[]): void {
  if (DAY % cfg.interval !== 0) issues.push({ path: `${at}.interval`, message: 'must divide a day into whole parts (1h, 2h, 3h, 4h, 6h, 8h, 12h or 24h), so that reports cover the same UTC periods on every gateway' });
  if (!cfg.enabled) return;
  if (!cfg.org_name?.trim()) issues.push({ path: `${at}.org_name`, message: 'is required when reporting is enabled: report_metadata/org_name names the reporting organisation' });
  if (!cfg.email) issues.push({ path: `${at}.email`, message: 'is required when reporting is enabled: the report\'s From and contact address' });
}

export const reportingSchema = s.checked(options, checkReporting);

export type ReportingConfig = Infer<typeof options>;

/** The domain that names us as the report's receiver and submitter: the domain of `email`, lower case. */
export function receiverDomain(cfg: ReportingConfig): string {
  return (cfg.email ?? '').split('@').pop()!.toLowerCase();
}

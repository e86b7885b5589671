// The aggregate report as XML, element for element in the order of RFC 7489 Appendix C's schema.
import type { OverrideReason, PolicyPublished, ReportRecord } from './report-record.ts';

export interface ReportContent {
  orgName: string;
  email: string;
  reportId: string;
  /** Seconds since the epoch, UTC, both included. */
  begin: number;
  end: number;
  /** Notes for report_metadata/error: what the report leaves out and why. */
  errors: string[];
  policy: PolicyPublished;
  records: Array<{ record: ReportRecord; count: number }>;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&apos;' };

/** Text as XML 1.0 character data: markup escaped, and characters XML cannot carry (C0 controls) dropped. */
function text(value: string | number): string {
  return String(value).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** `<name>value</name>`, or nothing for an undefined value. */
function el(name: string, value: string | number | undefined): string {
  return value === undefined ? '' : `<${name}>${text(value)}</${name}>`;
}

function reasonXml(r: OverrideReason): string {
  return `<reason>${el('type', r.type)}${el('comment', r.comment)}</reason>`;
}

function recordXml(r: ReportRecord, count: number): string {
  const row = `<row>${el('source_ip', r.sourceIp)}${el('count', count)}<policy_evaluated>${el('disposition', r.disposition)}`
    + `${el('dkim', r.dkim)}${el('spf', r.spf)}${r.reasons.map(reasonXml).join('')}</policy_evaluated></row>`;
  const identifiers = `<identifiers>${el('envelope_from', r.envelopeFrom)}${el('header_from', r.headerFrom)}</identifiers>`;
  const dkim = r.dkimAuth.map((d) => `<dkim>${el('domain', d.domain)}${el('selector', d.selector)}${el('result', d.result)}${el('human_result', d.human)}</dkim>`);
  const spf = `<spf>${el('domain', r.spfAuth.domain)}${el('scope', r.spfAuth.scope)}${el('result', r.spfAuth.result)}</spf>`;
  return `  <record>\n    ${row}\n    ${identifiers}\n    <auth_results>${dkim.join('')}${spf}</auth_results>\n  </record>\n`;
}

/** The report's XML document, records with the most messages first. */
export function reportXml(c: ReportContent): string {
  const p = c.policy;
  const metadata = `<report_metadata>${el('org_name', c.orgName)}${el('email', c.email)}${el('report_id', c.reportId)}`
    + `<date_range>${el('begin', c.begin)}${el('end', c.end)}</date_range>${c.errors.map((e) => el('error', e)).join('')}</report_metadata>`;
  const published = `<policy_published>${el('domain', p.domain)}${el('adkim', p.adkim)}${el('aspf', p.aspf)}${el('p', p.p)}`
    + `${el('sp', p.sp)}${el('pct', p.pct)}${el('fo', p.fo)}</policy_published>`;
  const records = [...c.records].sort((a, b) => b.count - a.count).map((r) => recordXml(r.record, r.count)).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n  ${metadata}\n  ${published}\n${records}</feedback>\n`;
}

// The report as a message (RFC 7489 7.2.1.1): multipart/mixed, a short text part and the gzipped XML as an attachment
// named receiver!policy-domain!begin!end.xml.gz, with the Subject form report processors sort by.
import { randomBytes } from 'node:crypto';

export interface ReportMessage {
  /** The report's From (reporting.email). */
  from: string;
  to: string;
  orgName: string;
  /** Our domain: the receiver in the file name, the submitter in the Subject. */
  receiver: string;
  policyDomain: string;
  reportId: string;
  begin: number;
  end: number;
  gzip: Buffer;
}

/** The attachment's file name (RFC 7489 7.2.1.1). */
export function reportFileName(m: Pick<ReportMessage, 'receiver' | 'policyDomain' | 'begin' | 'end'>): string {
  return `${m.receiver}!${m.policyDomain}!${m.begin}!${m.end}.xml.gz`;
}

/** An RFC 5322 date in UTC. */
function mailDate(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** The Subject's value, folded before Report-ID when the line would be long (the form allows FWS there). */
export function reportSubject(m: Pick<ReportMessage, 'policyDomain' | 'receiver' | 'reportId'>): string {
  const head = `Report Domain: ${m.policyDomain} Submitter: ${m.receiver}`;
  const id = `Report-ID: <${m.reportId}>`;
  return `Subject: ${head} ${id}`.length > 78 ? `${head}\r\n ${id}` : `${head} ${id}`;
}

const base64Lines = (data: Buffer) => (data.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

const utc = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');

/** The whole message, CRLF line ends, ASCII only. */
export function reportMessage(m: ReportMessage, now = new Date()): Buffer {
  const boundary = `=_dmarc_${randomBytes(12).toString('hex')}`;
  const file = reportFileName(m);
  const intro = [
    `This is a DMARC aggregate report (RFC 7489) from ${m.orgName.replace(/[^\x20-\x7e]/g, '?')} for ${m.policyDomain},`,
    `covering ${utc(m.begin)} to ${utc(m.end)}. The report is the attached file ${file}.`,
  ];
  const lines = [
    `From: ${m.from}`,
    `To: ${m.to}`,
    `Subject: ${reportSubject(m)}`,
    `Date: ${mailDate(now)}`,
    `Message-ID: <${randomBytes(12).toString('hex')}.dmarc@${m.receiver}>`,
    'MIME-Version: 1.0',
    // RFC 3834: no vacation reply or other automatic answer should come back to it.
    'Auto-Submitted: auto-generated',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    'This is a multi-part message in MIME format.',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    '',
    ...intro,
    `--${boundary}`,
    `Content-Type: application/gzip; name="${file}"`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${file}"`,
    '',
    base64Lines(m.gzip),
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'ascii');
}

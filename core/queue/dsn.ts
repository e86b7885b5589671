// Builds an RFC 3464 delivery status notification: multipart/report with a human part, the per-recipient status, and the original headers.
import { randomBytes } from 'node:crypto';
import { encodedWords, headerEnd, parseHeaderBlock } from '../message/header-block.ts';
import { fieldRemoval, withoutFields } from '../message/header-filter.ts';
import type { QueueEntry, QueueRecipient } from './entry.ts';
import { DEFAULT_TEMPLATES, fillTemplate, type DsnTokens } from './dsn-template.ts';
import { isAscii } from '../text/ascii.ts';

export type DsnKind = 'failure' | 'delay';

export interface DsnInput {
  kind: DsnKind;
  entry: QueueEntry;
  /** The recipients the notice is about (failed, or still pending for a delay notice). */
  recipients: QueueRecipient[];
  /** Header lines of the original message as it would leave (CRLF-terminated). */
  originalHeaders: string;
  hostname: string;
  postmaster: string;
  /** Admin templates; empty fields fall back to the built-in text. */
  template?: { subject?: string; text?: string };
  /** When a delayed message will be given up (delay notices). */
  retryUntil?: number;
  now?: number;
}

const rfc5322Date = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');
/** Header values must never carry line breaks from remote replies or addresses. */
const oneLine = (v: string) => v.replace(/[\r\n]+/g, ' ').trim();

function headerValue(headers: string, name: string): string {
  const f = parseHeaderBlock(headers).find((h) => h.name.toLowerCase() === name);
  return f ? oneLine(f.value) : '';
}

/** The enhanced status code (RFC 3463) of a reply, or one derived from its basic code. */
export function statusOf(reply: string | undefined, kind: DsnKind): string {
  const m = /^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply ?? '');
  if (kind === 'delay') return m && m[1].startsWith('4') ? m[1] : '4.0.0';
  if (m && m[1].startsWith('5')) return m[1];
  // A failure without a 5xx is a message whose lifetime ran out on temporary errors.
  return /^5/.test(reply ?? '') ? '5.0.0' : '5.4.7';
}

function humanAge(ms: number): string {
  const h = Math.floor(ms / 3_600_000), m = Math.floor((ms % 3_600_000) / 60_000);
  if (h >= 48) return `${Math.floor(h / 24)} days`;
  if (h > 0) return `${h} hours ${m} minutes`;
  return `${Math.max(m, 1)} minutes`;
}


/** Keeps lines within SMTP's 998-octet limit: long remote replies are cut, not wrapped, so they stay greppable. */
function capLines(text: string): string {
  return text.split(/\r?\n/).map((l) => (l.length > 900 ? l.slice(0, 900) + '…' : l)).join('\r\n');
}

export function buildDsn(input: DsnInput): { data: Buffer; messageId: string } {
  const { entry, kind, hostname } = input;
  const now = input.now ?? Date.now();
  const tokens: DsnTokens = {
    postmaster: input.postmaster,
    hostname,
    recipient: entry.mailFrom,
    date: rfc5322Date(now),
    arrival_date: rfc5322Date(entry.receivedAt),
    message_id: headerValue(input.originalHeaders, 'message-id') || `(queue id ${entry.id})`,
    queue_id: entry.id,
    subject: headerValue(input.originalHeaders, 'subject'),
    failed: input.recipients.map((r) => `<${r.address}>: ${oneLine(r.reply ?? (kind === 'delay' ? 'not yet delivered' : 'delivery time expired'))}`).join('\n'),
    recipients: input.recipients.map((r) => r.address).join(', '),
    headers: input.originalHeaders.replace(/\r\n/g, '\n').trimEnd(),
    age: humanAge(now - entry.receivedAt),
    retry_until: input.retryUntil ? rfc5322Date(input.retryUntil) : '',
  };
  const tpl = DEFAULT_TEMPLATES[kind];
  const subject = oneLine(fillTemplate(input.template?.subject || tpl.subject, tokens));
  const text = capLines(fillTemplate(input.template?.text || tpl.text, tokens)) + '\r\n';

  const boundary = `=_mailmoat_${randomBytes(12).toString('hex')}`;
  const messageId = `<${entry.id}.${kind}.${randomBytes(4).toString('hex')}@${hostname}>`;
  const status: string[] = [
    `Reporting-MTA: dns; ${hostname}`,
    `X-Mailmoat-Queue-ID: ${entry.id}`,
    `Arrival-Date: ${tokens.arrival_date}`,
    '',
  ];
  for (const r of input.recipients) {
    status.push(`Final-Recipient: rfc822; ${oneLine(r.address)}`);
    status.push(`Action: ${kind === 'failure' ? 'failed' : 'delayed'}`);
    status.push(`Status: ${statusOf(r.reply, kind)}`);
    if (r.reply) status.push(`Diagnostic-Code: smtp; ${oneLine(r.reply).slice(0, 900)}`);
    if (entry.history.length) status.push(`Last-Attempt-Date: ${rfc5322Date(entry.history[entry.history.length - 1].at)}`);
    if (kind === 'delay' && input.retryUntil) status.push(`Will-Retry-Until: ${rfc5322Date(input.retryUntil)}`);
    status.push('');
  }
  const head = [
    `From: Mail Delivery System <${input.postmaster}>`,
    `To: <${oneLine(entry.mailFrom)}>`,
    `Subject: ${encodedWords(subject)}`,
    `Date: ${tokens.date}`,
    `Message-ID: ${messageId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ];
  const headers8bit = !isAscii(input.originalHeaders);
  const before = [
    head.join('\r\n'),
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Transfer-Encoding: ${isAscii(text) ? '7bit' : '8bit'}`,
    '',
    text,
    `--${boundary}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    status.join('\r\n'),
    `--${boundary}`,
    'Content-Description: Undelivered message headers',
    'Content-Type: text/rfc822-headers',
    ...(headers8bit ? ['Content-Transfer-Encoding: 8bit'] : []),
    '',
    '',
  ].join('\r\n');
  // The original headers keep their own bytes (they may be raw 8-bit); our text is UTF-8.
  const data = Buffer.concat([
    Buffer.from(before, 'utf8'),
    Buffer.from(input.originalHeaders.trimEnd(), 'latin1'),
    Buffer.from(`\r\n\r\n--${boundary}--\r\n`, 'utf8'),
  ]);
  return { data, messageId };
}

/** The header block of a queued message as it leaves: our prepended lines, then the original minus removed headers. */
export function originalHeaders(entry: QueueEntry, head: Buffer): string {
  const end = headerEnd(head);
  const block = head.subarray(0, end < 0 ? head.length : end);
  const kept = entry.remove.length ? withoutFields(block, fieldRemoval(entry.remove)) : block;
  return entry.prepend + kept.toString('latin1');
}

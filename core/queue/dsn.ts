// Builds an RFC 3464 delivery status notification: multipart/report with a human part, the per-recipient status, and the original headers.
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { encodedWords, formatHeader, headerEnd, mailDate, parseHeaderBlock } from '../message/header-block.ts';
import { decodeWords } from '../text/encoded-words.ts';
import { fieldRemoval, withoutFields } from '../message/header-filter.ts';
import type { QueueEntry, QueueRecipient } from './entry.ts';
import { DEFAULT_TEMPLATES, fillTemplate, type DsnTokens } from './dsn-template.ts';
import { isAscii } from '../text/ascii.ts';
import { headerValueText } from '../text/header-value.ts';

/** `success`: a next hop without DSN took the message for a recipient whose NOTIFY asked for SUCCESS (Action: relayed). */
export type DsnKind = 'failure' | 'delay' | 'success';

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
  /** Who the notice goes to when not the original's sender (the admin's copy of a notice that failed). */
  to?: string;
  /** The header section was read only in part (it is longer than what was read). */
  headersCut?: boolean;
  /** When a delayed message will be given up (delay notices). */
  retryUntil?: number;
  /**
   * RET=FULL on a failure notice: the whole message as it left, when it fits in RETURNED_MESSAGE_LIMIT; `tooBig` when
   * it did not (the headers go back instead, with a word on why).
   */
  returnFull?: { message: Buffer } | { tooBig: true };
  now?: number;
}


/**
 * How much of the original's header section goes back: Postfix's bounce_size_limit. More only helps a forged sender
 * aim a larger reflection at a victim, and some servers refuse big notices.
 */
export const RETURNED_HEADERS_LIMIT = 50_000;
/** Lines we write stay under SMTP's 998-octet limit with room for a field name; longer ones are cut, not wrapped. */
const LINE_OCTETS = 900;
/** RET=FULL returns the whole message up to this size, Postfix's bounce_size_limit again; a larger one gets its headers. */
export const RETURNED_MESSAGE_LIMIT = 50_000;

const SUCCESS_TEMPLATE = {
  subject: 'Successful Mail Relay Report',
  text: [
    'This is the mail system at {hostname}.',
    '',
    'Your message {message_id} (subject "{subject}"), received {arrival_date},',
    'was passed on to a mail system that does not report deliveries, for the',
    'recipients below. You asked to hear of delivery; this is as far as it can be',
    'followed.',
    '',
    '{failed}',
  ].join('\n'),
};
const SUBJECT_CHARS = 200;

/**
 * Control characters (NUL, ESC, C1…) from a remote reply or the original would reach the sender's screen or a
 * parser that stops at NUL; line breaks would add fields of their own. Tabs become spaces.
 */
const controls = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
const clean = (v: string) => v.replace(/[\r\n\t]+/g, ' ').replace(controls, '').trim();
/** Replies and header values arrive as bytes (latin1 characters): read as the gateway reads header text, then cleaned. */
const oneLine = (v: string, truncated = false) => clean(headerValueText(v, truncated));

/** The longest start of `text` that fits in `octets` UTF-8 octets, never splitting a character. */
function cutOctets(text: string, octets: number): string {
  if (Buffer.byteLength(text, 'utf8') <= octets) return text;
  let out = '', used = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > octets) break;
    out += ch; used += n;
  }
  return out + '…';
}

/** The first `name` field of `headers`; in a section read only in part (`cut`) the last field may end mid-character. */
function headerValue(headers: string, name: string, cut = false): string {
  const fields = parseHeaderBlock(headers);
  const at = fields.findIndex((h) => h.name.toLowerCase() === name);
  return at < 0 ? '' : oneLine(fields[at].value, cut && at === fields.length - 1);
}

/**
 * Our own fields (`X-Mailmoat-Verdict: accept; score=0; required=15; …`, the spam level, a plugin's) never go back in
 * a notice: it goes to the sender, who could tune the next message against the score and thresholds, as the refusal
 * replies leave the score out for. The servers behind the gateway act on them; the sender has no use for them.
 */
const ownFields = fieldRemoval(['x-mailmoat-*']);
const withoutOwnFields = (message: Buffer): Buffer => withoutFields(message, ownFields);

/** The returned header lines as text for the human part, each read alone: one field's charset says nothing of the next. */
const headersAsText = (block: string) => block.split('\r\n').map((line) => headerValueText(line)).join('\n').trimEnd();

/**
 * The original's header lines that go back: whole fields up to RETURNED_HEADERS_LIMIT octets, a physical line over
 * the SMTP limit cut short (kept whole it could get the notice refused). `cut` says whether anything was left out.
 */
export function returnedHeaders(block: string, alreadyCut = false): { text: string; cut: boolean } {
  const lines = block.replace(/(\r\n)+$/, '').split('\r\n');
  let cut = alreadyCut;
  // A section read only in part ends inside a line; that line is not returned.
  if (alreadyCut && !block.endsWith('\r\n')) lines.pop();
  const fields: string[][] = [];
  for (let line of lines) {
    // Bare CR or LF and other controls (NUL above all) have no place in a header; the rest stays byte for byte.
    line = line.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '');
    if (line === '') continue;
    if (line.length > LINE_OCTETS) {
      let end = LINE_OCTETS;
      // Never in the middle of a UTF-8 sequence: back up over continuation bytes.
      while (end > 0 && (line.charCodeAt(end) & 0xc0) === 0x80) end--;
      line = line.slice(0, end);
      cut = true;
    }
    if ((line[0] === ' ' || line[0] === '\t') && fields.length) fields[fields.length - 1].push(line);
    else fields.push([line]);
  }
  const kept: string[] = [];
  let size = 0;
  for (const f of fields) {
    const text = f.join('\r\n') + '\r\n';
    if (size + text.length > RETURNED_HEADERS_LIMIT) { cut = true; break; }
    kept.push(text);
    size += text.length;
  }
  return { text: kept.join(''), cut };
}

/** The enhanced status code (RFC 3463) of a reply, or one derived from its basic code. */
export function statusOf(reply: string | undefined, kind: DsnKind): string {
  const m = /^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply ?? '');
  // No SMTP reply at all: the host could not be reached or the session broke off (RFC 3463 4.4.x).
  const network = !/^[2-5]\d\d\b/.test(reply ?? '');
  if (kind === 'success') return m && m[1].startsWith('2') ? m[1] : '2.0.0';
  if (kind === 'delay') return m && m[1].startsWith('4') ? m[1] : network && reply ? '4.4.0' : '4.0.0';
  if (m && m[1].startsWith('5')) return m[1];
  // A failure without a 5xx is a message whose lifetime ran out on temporary errors.
  return /^5/.test(reply ?? '') ? '5.0.0' : '5.4.7';
}

/**
 * RFC 3464 §2.3.6: "smtp" promises an SMTP reply. Our own texts (a connection error, an expired lifetime) get a
 * type of their own, as Postfix gives them X-Postfix.
 */
function diagnostic(reply: string): string {
  const text = cutOctets(oneLine(reply), LINE_OCTETS);
  return `Diagnostic-Code: ${/^[2-5]\d\d\b/.test(text) ? 'smtp' : 'X-Mailmoat'}; ${text}`;
}

/** An address field of a report: the utf-8 address type (RFC 6533 §3) for one beyond ASCII. */
const addressField = (name: string, address: string) => `${name}: ${isAscii(address) ? 'rfc822' : 'utf-8'}; ${clean(address)}`;

/** `1 minute`, `2 minutes`: the notice is read by people. */
const count = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

function humanAge(ms: number): string {
  const h = Math.floor(ms / 3_600_000), m = Math.floor((ms % 3_600_000) / 60_000);
  if (h >= 48) return count(Math.floor(h / 24), 'day');
  if (h > 0) return `${count(h, 'hour')} ${count(m, 'minute')}`;
  return count(Math.max(m, 1), 'minute');
}

function capLines(text: string): string {
  return text.split(/\r?\n/).map((l) => cutOctets(l.replace(controls, ''), LINE_OCTETS)).join('\r\n');
}

export function buildDsn(input: DsnInput): { data: Buffer; messageId: string } {
  const { entry, kind, hostname } = input;
  const now = input.now ?? Date.now();
  const returned = returnedHeaders(withoutOwnFields(Buffer.from(input.originalHeaders, 'latin1')).toString('latin1'), input.headersCut);
  const originalId = headerValue(input.originalHeaders, 'message-id', input.headersCut);
  const subject0 = decodeWords(headerValue(input.originalHeaders, 'subject', input.headersCut));
  const tokens: DsnTokens = {
    postmaster: input.postmaster,
    hostname,
    recipient: entry.mailFrom,
    date: mailDate(now),
    arrival_date: mailDate(entry.receivedAt),
    message_id: originalId || `(queue id ${entry.id})`,
    queue_id: entry.id,
    subject: Array.from(clean(subject0)).slice(0, SUBJECT_CHARS).join(''),
    failed: input.recipients.map((r) => `<${clean(r.address)}>: ${oneLine(r.reply ?? (kind === 'delay' ? 'not yet delivered' : 'delivery time expired'))}`).join('\n'),
    recipients: input.recipients.map((r) => clean(r.address)).join(', '),
    headers: headersAsText(returned.text),
    age: humanAge(now - entry.receivedAt),
    retry_until: input.retryUntil ? mailDate(input.retryUntil) : '',
  };
  const tpl = kind === 'success' ? SUCCESS_TEMPLATE : DEFAULT_TEMPLATES[kind];
  const filled = fillTemplate(input.template?.subject || tpl.subject, tokens);
  const subject = cutOctets(clean(entry.dsn ? `Postmaster copy: ${filled}` : filled), 3 * SUBJECT_CHARS);
  let text = fillTemplate(input.template?.text || tpl.text, tokens);
  if (returned.cut) {
    text += `\n\nThe headers returned were cut short: ${RETURNED_HEADERS_LIMIT} bytes at most, each line ${LINE_OCTETS} bytes at most.`;
  }
  const full = input.returnFull && 'message' in input.returnFull ? withoutOwnFields(input.returnFull.message) : undefined;
  if (full) text += '\n\nYour whole message is attached, as you asked (RET=FULL).';
  else if (input.returnFull) text += `\n\nYou asked for your whole message back (RET=FULL), but it is larger than ${RETURNED_MESSAGE_LIMIT} bytes: only its headers are attached.`;
  text = capLines(text) + '\r\n';

  const boundary = `=_mailmoat_${randomBytes(12).toString('hex')}`;
  const messageId = `<${entry.id}.${kind}.${randomBytes(4).toString('hex')}@${hostname}>`;
  const status: string[] = [
    // The sender's own id for the transaction, which its software matches notices with (RFC 3464 §2.2.1).
    ...(entry.envid !== undefined ? [`Original-Envelope-Id: ${clean(entry.envid)}`] : []),
    `Reporting-MTA: dns; ${hostname}`,
    `X-Mailmoat-Queue-ID: ${entry.id}`,
    ...(entry.mailFrom ? [addressField('X-Mailmoat-Sender', entry.mailFrom)] : []),
    `Arrival-Date: ${tokens.arrival_date}`,
    '',
  ];
  for (const r of input.recipients) {
    if (r.orcpt) status.push(`Original-Recipient: ${clean(r.orcpt.type)}; ${clean(r.orcpt.address)}`);
    status.push(addressField('Final-Recipient', r.address));
    status.push(`Action: ${kind === 'failure' ? 'failed' : kind === 'delay' ? 'delayed' : 'relayed'}`);
    status.push(`Status: ${statusOf(r.reply, kind)}`);
    if (r.remoteMta && r.reply && /^[2-5]\d\d\b/.test(r.reply)) status.push(`Remote-MTA: dns; ${clean(r.remoteMta)}`);
    if (r.reply) status.push(diagnostic(r.reply));
    if (entry.history.length) status.push(`Last-Attempt-Date: ${mailDate(entry.history[entry.history.length - 1].at)}`);
    if (kind === 'delay' && input.retryUntil) status.push(`Will-Retry-Until: ${mailDate(input.retryUntil)}`);
    status.push('');
  }
  const statusText = status.join('\r\n');
  // RFC 6533: a report with an address or text beyond ASCII, or headers in UTF-8, uses the global types; raw
  // 8-bit headers that are not UTF-8 (no charset can be known) stay text/rfc822-headers, as they came.
  const globalStatus = !isAscii(statusText);
  const headers8bit = !isAscii(returned.text);
  const globalHeaders = headers8bit && isUtf8(Buffer.from(returned.text, 'latin1'));
  const full8bit = !!full && !isAscii(full.toString('latin1'));
  const eightBit = globalStatus || headers8bit || full8bit || !isAscii(text);
  // In-Reply-To and References tie the notice to the message in the sender's mail client (RFC 3834 §3.1.5).
  const reference = /^<[\x21-\x3b\x3d\x3f-\x7e]+>$/.test(originalId) && originalId.length <= LINE_OCTETS ? originalId : '';
  const head = [
    `From: Mail Delivery System <${clean(input.postmaster)}>`,
    `To: <${clean(input.to ?? entry.mailFrom)}>`,
    formatHeader('Subject', encodedWords(subject)).trimEnd(),
    `Date: ${tokens.date}`,
    `Message-ID: ${messageId}`,
    ...(reference ? [`In-Reply-To: ${reference}`, `References: ${reference}`] : []),
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    ...(eightBit ? ['Content-Transfer-Encoding: 8bit'] : []),
  ];
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
    `Content-Type: message/${globalStatus ? 'global-delivery-status' : 'delivery-status'}`,
    ...(globalStatus ? ['Content-Transfer-Encoding: 8bit'] : []),
    '',
    statusText,
    `--${boundary}`,
    ...(full ? [
      'Content-Description: Undelivered message',
      // RFC 6532 §3.7: a message sent with SMTPUTF8 may carry UTF-8 headers, which message/rfc822 does not allow.
      `Content-Type: ${entry.smtputf8 ? 'message/global' : 'message/rfc822'}`,
      ...(full8bit ? ['Content-Transfer-Encoding: 8bit'] : []),
    ] : [
      `Content-Description: ${kind === 'success' ? 'Relayed' : 'Undelivered'} message headers`,
      `Content-Type: ${globalHeaders ? 'message/global-headers' : 'text/rfc822-headers'}`,
      ...(headers8bit ? ['Content-Transfer-Encoding: 8bit'] : []),
    ]),
    '',
    '',
  ].join('\r\n');
  // The original keeps its own bytes (they may be raw 8-bit); our text is UTF-8.
  const returnedPart = full ?? Buffer.from(returned.text, 'latin1');
  const endsLine = returnedPart.length === 0 || returnedPart.subarray(-2).equals(Buffer.from('\r\n'));
  const data = Buffer.concat([
    Buffer.from(before, 'utf8'),
    returnedPart,
    Buffer.from(`${full && !endsLine ? '\r\n' : ''}\r\n--${boundary}--\r\n`, 'utf8'),
  ]);
  return { data, messageId };
}

/**
 * The whole message as it left (our lines, the original's header minus removed fields, its body) when `head` holds all
 * of it; undefined when its header section does not end in what was read.
 */
export function originalMessage(entry: QueueEntry, head: Buffer): Buffer | undefined {
  const end = headerEnd(head);
  if (end < 0) return undefined;
  return Buffer.concat([Buffer.from(originalHeaders(entry, head), 'latin1'), head.subarray(end)]);
}

/** The header block of a queued message as it leaves: our prepended lines, then the original minus removed headers. */
export function originalHeaders(entry: QueueEntry, head: Buffer): string {
  const end = headerEnd(head);
  const block = head.subarray(0, end < 0 ? head.length : end);
  const kept = entry.remove.length ? withoutFields(block, fieldRemoval(entry.remove)) : block;
  return entry.prepend + kept.toString('latin1');
}

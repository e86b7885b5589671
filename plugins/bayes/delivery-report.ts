// Recognises a delivery-status notification (a bounce) and finds the message it returns, so that the plugin judges
// the returned message rather than the notice wrapped round it: the notices' fixed wording ("Undelivered Mail
// Returned to Sender", "delete your own text") is shared by real bounces and by the virus lures and backscatter
// that dressed as them in the training mail, so it says nothing about which one a report is.
//
// The message is read as a latin1 string, one character per byte, as core/message/mime-leaves.ts reads it.
import { decodeLeaf, walkLeaves, type MimeLeaf } from '../../core/message/mime-leaves.ts';
import { parseHeaderBlock } from '../../core/message/header-block.ts';
import { parseMimeValue } from '../../core/message/mime-params.ts';
import { hiddenTextIn, markupLinks, shownText } from './notice-html.ts';
import { textLinks, unexplainedLink } from './notice-links.ts';
import { headerSectionOf, quotedHeaderBytes } from './quoted-header.ts';

/** What a report gives back of the message that was not delivered. */
export type Returned =
  | { kind: 'message'; bytes: Buffer }
  | { kind: 'headers'; bytes: Buffer }
  | { kind: 'nothing' };

export interface DeliveryReport {
  /** The form it was recognised by: `multipart/report`, `Exim`, `qmail`, `Postfix (multipart/mixed)`. */
  format: string;
  returned: Returned;
}

/** Why a message from the null sender was not taken for a delivery report, for the log. */
export interface NotAReport { notReport: string }

/**
 * Parts a delivery report holds (RFC 3464, RFC 6533's internationalised forms, RFC 6522's container): the notice as
 * text or HTML, inline images of the notice (Gmail's icon), the report, and the returned message or its header.
 */
const NOTICE_TYPES = new Set(['text/plain', 'text/html']);
const STATUS_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status']);
const RETURNED_MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);
const RETURNED_HEADER_TYPES = new Set(['text/rfc822-headers', 'message/global-headers']);

/**
 * Plain-text bounces from MTAs that write no multipart/report: the line their notice opens with, and the lines after
 * which they copy the message (whole, or its header section only).
 */
interface PlainForm {
  format: string;
  /** Anchored at the body's start (blank lines aside). */
  opening: RegExp;
  copies: Array<{ line: RegExp; kind: 'message' | 'headers' }>;
  /** A line of the notice naming one recipient that failed. */
  recipient: RegExp;
  /** The notice's lines that quote a remote server's reply. */
  reply: RegExp;
}
const PLAIN_FORMS: PlainForm[] = [
  {
    format: 'Exim',
    opening: /^(?:\r?\n)*This message was created automatically by mail delivery software\.\r?\n/,
    copies: [
      { line: /^------ This is a copy of the message, including all the headers\. ------\r?\n/m, kind: 'message' },
      { line: /^------ This is a copy of the message's headers\. ------\r?\n/m, kind: 'headers' },
    ],
    recipient: /^  \S+@\S+\r?$/gm,
    reply: /^    \S.*/gm,
  },
  {
    format: 'qmail',
    opening: /^(?:\r?\n)*Hi\. This is the qmail-send program at \S+\r?\n/,
    copies: [{ line: /^--- Below this line is a copy of the message\.\r?\n/m, kind: 'message' }],
    recipient: /^<[^>\r\n]*>:\r?$/gm,
    // qmail writes the reply on the lines after the address, up to a blank line.
    reply: /^<[^>\r\n]*>:\r?\n(?:.+\r?\n)*/gm,
  },
];

/** How the notice of Postfix's form before RFC 3464 reports opens (multipart/mixed, no delivery-status part). */
const OLD_POSTFIX_OPENING = /^(?:\r?\n)*This is the (?:Postfix program|mail system) at host \S+\r?\n/;
/** A line of its notice quoting the remote server's reply about one recipient. */
const OLD_POSTFIX_REPLY = /^<[^>\r\n]*>: .*/gm;

/** The fields RFC 3464 requires of each recipient's block: what the MTA did, and the status code it gives. */
const ACTION = /^Action:[ \t]*(?:failed|delayed|delivered|relayed|expanded)\b/im;
const STATUS = /^Status:[ \t]*[245]\.\d{1,3}\.\d{1,3}\b/im;

/** The returned part of a report: the message, its header section, or nothing. */
function returnedOf(text: string, leaves: MimeLeaf[]): Returned {
  const whole = leaves.find((l) => RETURNED_MESSAGE_TYPES.has(l.contentType));
  if (whole) return { kind: 'message', bytes: decodeLeaf(text, whole) };
  const head = leaves.find((l) => RETURNED_HEADER_TYPES.has(l.contentType));
  if (head) return { kind: 'headers', bytes: decodeLeaf(text, head) };
  return { kind: 'nothing' };
}

/** A header field's first line, as the tokenizer takes one (engine/mime.ts): a name of printable ASCII, a colon. */
const FIELD_LINE = /^[\x21-\x39\x3b-\x7e]+:/;
/** The fields that tell a MIME reader how to read a body: its type, its encoding, its disposition. */
const FRAMING_FIELD = /^(?:content-[\x21-\x39\x3b-\x7e]*|mime-version)[ \t]*:/i;

/**
 * A copy of a message split where the tokenizer would split it: its header lines (up to a blank line, or up to the
 * first line that is neither a field nor a continuation) and what follows them.
 */
function splitCopy(copy: string): { head: string[]; rest: string } {
  const head: string[] = [];
  let pos = 0;
  while (pos < copy.length) {
    const nl = copy.indexOf('\n', pos);
    const next = nl < 0 ? copy.length : nl + 1;
    const line = copy.slice(pos, next).replace(/\r?\n$/, '');
    if (line === '') return { head, rest: copy.slice(next) };
    const continuation = (line[0] === ' ' || line[0] === '\t') && head.length > 0;
    if (!continuation && !FIELD_LINE.test(line)) break;
    head.push(line);
    pos = next;
  }
  return { head, rest: copy.slice(pos) };
}

/**
 * A plain-text bounce's copy as its reader sees it: the bounce is text/plain, so its reader shows the copy's body as
 * text whatever the copy's own MIME fields declare. Taken at their word, a forger's `Content-Type:
 * application/octet-stream` (or a base64 encoding) after the copy line hid the spam below it from the tokenizer, which
 * scored only the copy's few header fields. So the copy's header lines stay header lines, its MIME fields (with their
 * continuations) go, and all after them is read as the plain text it is shown as.
 */
export function copyAsShown(copy: string): string {
  const { head, rest } = splitCopy(copy);
  const kept: string[] = [];
  let dropping = false;
  for (const line of head) {
    if (line[0] === ' ' || line[0] === '\t') { if (!dropping) kept.push(line); continue; }
    dropping = FRAMING_FIELD.test(line);
    if (!dropping) kept.push(line);
  }
  return [...kept, '', ''].join('\r\n') + rest;
}

/**
 * Whether a returned header section holds more than a header section: a body after it, or lines that are no fields,
 * which the tokenizer reads as a body. A reader shows them as text, and a forger's spam would be scored as a header.
 */
function beyondHeaders(section: string): boolean {
  return /\S/.test(splitCopy(section).rest);
}

/**
 * How much text a notice may hold: an MTA's fixed wording (Postfix 3's is about 0.4 KB, its delay warning 0.55 KB, Gmail's 0.35 KB, Exim's 0.25 KB,
 * qmail's 0.2 KB) and the remote servers' replies it quotes, which the report also gives in its Diagnostic-Code
 * fields (or, in the plain-text forms, on the notice's own diagnostic lines). A spam beside them does not fit.
 * Exchange's notices fit once the copy of the returned header section they hold is left out (quoted-header.ts).
 */
const NOTICE_OWN_BYTES = 576;
/** What the quoted replies may add, per recipient the report names, for at most NOTICE_RECIPIENTS recipients. */
const NOTICE_REPLY_BYTES = 512;
const NOTICE_RECIPIENTS = 20;

/** The notice text a report may hold that quotes `replyBytes` of remote replies for `recipients` recipients. */
export function noticeLimit(replyBytes: number, recipients: number): number {
  const perRecipient = NOTICE_REPLY_BYTES * Math.min(Math.max(recipients, 1), NOTICE_RECIPIENTS);
  return NOTICE_OWN_BYTES + Math.min(replyBytes, perRecipient);
}

/** Bytes of the lines `pattern` (global, multiline) finds in `text`. */
function bytesOf(text: string, pattern: RegExp): number {
  return (text.match(pattern) ?? []).reduce((n, l) => n + l.length, 0);
}

/** A Diagnostic-Code field with its folded lines. */
const DIAGNOSTIC_CODE = /^Diagnostic-Code:.*(?:\r?\n[ \t].*)*/gim;

/** A notice part larger than this is not read, only refused: its text is far past any limit anyway. */
const NOTICE_MAX_BYTES = 64 * 1024;

/** Share of an HTML notice's words its plain-text notice holds too: Gmail's two say the same, a forger's need not. */
const HTML_WORDS_IN_TEXT = 0.8;

function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[a-z]{3,}/g) ?? [];
}

/** Whether the HTML alternative says what the plain-text notice says, word for word in the main. */
function saysTheSame(plain: string, html: string): boolean {
  const known = new Set(wordsOf(plain));
  const words = wordsOf(html);
  return words.filter((w) => known.has(w)).length >= HTML_WORDS_IN_TEXT * words.length;
}

/** What a notice may quote of the rest of the report, and is then not refused or counted for. */
interface Quotable {
  /** The remote servers' replies the report gives (its Diagnostic-Code fields), whose links a notice may repeat. */
  replies: string;
  /** The returned part's header section, which Exchange's notices copy out in full. */
  header?: string;
}

/** The bytes of a notice's text counted against its limit: all but a copy of the returned header section. */
function countedBytes(notice: string, header: string | undefined): { bytes: number; less: string } {
  const quoted = header ? quotedHeaderBytes(notice, header) : 0;
  return { bytes: notice.length - quoted, less: quoted ? ' besides the header section it quotes' : '' };
}

/** How a link no MTA would have written is said in the reason. */
function linkFault(link: string): string {
  return `a link to ${link} in its notice, neither to a provider's help pages nor quoted from a remote server's reply`;
}

/** Why the notice `leaves` (the parts before the delivery-status part) are not a notice, or undefined when they are. */
function noticeFault(text: string, leaves: MimeLeaf[], limit: number, quotable: Quotable): string | undefined {
  if (!leaves.length) return 'no notice before its delivery-status part';
  const strange = leaves.find((l) => !NOTICE_TYPES.has(l.contentType) && !l.contentType.startsWith('image/'));
  if (strange) return `a ${strange.contentType} part in its notice`;
  // One first part (RFC 6522): a text notice, an HTML one, or a multipart/alternative of text and HTML (Gmail's with its icon).
  if (leaves.length > 1 && leaves.some((l) => l.depth < 2)) return 'a notice of several parts side by side, not one';
  const plain = leaves.filter((l) => l.contentType === 'text/plain');
  const html = leaves.filter((l) => l.contentType === 'text/html');
  // Postfix, Exim and Sendmail write the notice as plain text; Gmail and Exchange as plain text and HTML alternatives;
  // Exchange also as HTML alone. Only Gmail's form has an image (its icon).
  if (plain.length > 1) return `${plain.length} plain-text notices`;
  if (html.length > 1) return `${html.length} HTML notices`;
  if (!plain.length && !html.length) return 'no text in its notice';
  if (leaves.length > plain.length + html.length && !(plain.length && html.length)) return `images beside ${plain.length ? 'a plain-text' : 'an HTML'} notice`;
  const huge = [...plain, ...html].find((l) => l.end - l.bodyStart > NOTICE_MAX_BYTES);
  if (huge) return `a ${huge.contentType} notice of more than ${NOTICE_MAX_BYTES} bytes`;
  const plainNotice = plain.length ? decodeLeaf(text, plain[0]).toString('latin1') : undefined;
  if (plainNotice !== undefined) {
    const n = countedBytes(plainNotice, quotable.header);
    if (n.bytes > limit) return `a notice of ${n.bytes} bytes${n.less}, more than the ${limit} of a delivery report`;
  }
  const markup = html.length ? decodeLeaf(text, html[0]).toString('latin1') : undefined;
  let shown = '';
  if (markup !== undefined) {
    const hidden = hiddenTextIn(markup);
    if (hidden) return `${hidden} in its HTML notice, showing text the limit does not count`;
    shown = shownText(markup);
    const n = countedBytes(shown, quotable.header);
    if (n.bytes > limit) return `an HTML notice showing ${n.bytes} characters${n.less}, more than the ${limit} of a delivery report`;
    if (plainNotice !== undefined && !saysTheSame(plainNotice, shown)) return 'an HTML notice that does not say what its plain-text notice says';
  }
  const links = [...textLinks(plainNotice ?? ''), ...textLinks(shown), ...(markup === undefined ? [] : markupLinks(markup))];
  const link = unexplainedLink(links, quotable.replies);
  return link === undefined ? undefined : linkFault(link);
}

/** How many recipients a delivery-status part reports on: its Final-Recipient fields. */
function recipientsIn(fields: string): number {
  return fields.match(/^Final-Recipient:/gim)?.length ?? 0;
}

/**
 * RFC 6522's order: the notice, the delivery-status part, then at most the returned message or its header section.
 * Anything after them (a second notice, a notice after the returned message) is not a report's.
 */
function multipartReport(text: string, leaves: MimeLeaf[]): DeliveryReport | NotAReport {
  const statusAt = leaves.findIndex((l) => STATUS_TYPES.has(l.contentType));
  if (statusAt < 0) return { notReport: 'multipart/report with no delivery-status part' };
  const after = leaves.slice(statusAt + 1);
  const returned = after[0];
  if (returned && !RETURNED_MESSAGE_TYPES.has(returned.contentType) && !RETURNED_HEADER_TYPES.has(returned.contentType)) {
    return { notReport: `multipart/report with a ${returned.contentType} part after its delivery-status part, where only the returned message may stand` };
  }
  if (after.length > 1) return { notReport: `multipart/report with ${after.length - 1} part(s) after the returned message (a ${after[1].contentType}), which no delivery report holds` };
  const fields = decodeLeaf(text, leaves[statusAt]).toString('latin1');
  if (!ACTION.test(fields) || !STATUS.test(fields)) return { notReport: 'its delivery-status part has no recipient\'s Action and Status' };
  const replies = fields.match(DIAGNOSTIC_CODE) ?? [];
  const limit = noticeLimit(replies.reduce((n, r) => n + r.length, 0), recipientsIn(fields));
  const given = returnedOf(text, after);
  const header = given.kind === 'nothing' ? undefined : headerSectionOf(given.bytes.toString('latin1'));
  const fault = noticeFault(text, leaves.slice(0, statusAt), limit, { replies: replies.join(' '), header });
  if (fault) return { notReport: `multipart/report with ${fault}` };
  if (given.kind === 'headers' && beyondHeaders(given.bytes.toString('latin1'))) {
    return { notReport: `multipart/report whose ${returned.contentType} part holds more than a header section` };
  }
  return { format: 'multipart/report', returned: given };
}

/** Postfix before 2.3: a text notice in its own words, then at most the message, in multipart/mixed. */
function oldPostfix(text: string, leaves: MimeLeaf[]): DeliveryReport | NotAReport {
  const [notice, ...after] = leaves;
  if (!notice || notice.contentType !== 'text/plain' || notice.depth !== 1) return { notReport: 'multipart/mixed without a bounce notice' };
  if (notice.end - notice.bodyStart > NOTICE_MAX_BYTES) return { notReport: `multipart/mixed bounce with a notice of more than ${NOTICE_MAX_BYTES} bytes` };
  const body = decodeLeaf(text, notice).toString('latin1');
  if (!OLD_POSTFIX_OPENING.test(body)) return { notReport: 'multipart/mixed without a bounce notice' };
  if (after.length > 1 || (after[0] && !RETURNED_MESSAGE_TYPES.has(after[0].contentType))) {
    return { notReport: 'multipart/mixed bounce holding more than its notice and the returned message' };
  }
  const replies = body.match(OLD_POSTFIX_REPLY) ?? [];
  const limit = noticeLimit(bytesOf(body, OLD_POSTFIX_REPLY), replies.length || 1);
  if (body.length > limit) return { notReport: `multipart/mixed bounce with a notice of more than ${limit} bytes, longer than a bounce's` };
  const link = unexplainedLink(textLinks(body), replies.join(' '));
  if (link !== undefined) return { notReport: `multipart/mixed bounce with ${linkFault(link)}` };
  return { format: 'Postfix (multipart/mixed)', returned: returnedOf(text, after) };
}

/** Exim's and qmail's plain-text bounces: the notice, then the copy of the message after the form's line. */
function plainBounce(text: string, leaf: MimeLeaf): DeliveryReport | NotAReport {
  const body = decodeLeaf(text, leaf).toString('latin1');
  // The form's opening line opens the body: text before it would be a notice of the forger's own.
  const form = PLAIN_FORMS.find((f) => f.opening.test(body));
  if (!form) return { notReport: 'plain text in no bounce format recognised (Exim, qmail)' };
  const copies = form.copies.map((c) => ({ ...c, at: c.line.exec(body) })).filter((c) => c.at);
  const copy = copies.sort((a, b) => a.at!.index - b.at!.index)[0];
  const noticeEnd = copy ? copy.at!.index : body.length;
  const notice = body.slice(0, noticeEnd);
  const limit = noticeLimit(bytesOf(notice, form.reply), notice.match(form.recipient)?.length ?? 1);
  if (noticeEnd > limit) return { notReport: `${form.format} bounce with a notice of more than ${limit} bytes, longer than a bounce's` };
  const link = unexplainedLink(textLinks(notice), (notice.match(form.reply) ?? []).join(' '));
  if (link !== undefined) return { notReport: `${form.format} bounce with ${linkFault(link)}` };
  if (!copy) return { format: form.format, returned: { kind: 'nothing' } };
  // A blank line may stand between the copy line and the copy.
  const rest = body.slice(copy.at!.index + copy.at![0].length).replace(/^\r?\n/, '');
  if (copy.kind === 'headers') {
    if (beyondHeaders(rest)) return { notReport: `${form.format} bounce whose copy of the headers holds more than a header section` };
    return { format: form.format, returned: { kind: 'headers', bytes: Buffer.from(rest, 'latin1') } };
  }
  return { format: form.format, returned: { kind: 'message', bytes: Buffer.from(copyAsShown(rest), 'latin1') } };
}

/**
 * The delivery report `head` (the message's first bytes) is, or why it is not one. The caller asks only of mail from
 * the null sender, which is what a report comes from (RFC 3464 §2, RFC 5321 §4.5.5): any other sender's message is
 * its author's, whatever it looks like.
 */
export function deliveryReport(head: Buffer): DeliveryReport | NotAReport {
  const text = head.toString('latin1');
  const walk = walkLeaves(text);
  const top = parseMimeValue(topContentType(text) ?? '');
  if (top.type === 'multipart/report') {
    const kind = (top.params['report-type'] ?? '').toLowerCase();
    if (kind !== 'delivery-status') return { notReport: `multipart/report of report-type ${kind || '(none)'}, not delivery-status` };
    return multipartReport(text, walk.leaves);
  }
  if (top.type === 'multipart/mixed') return oldPostfix(text, walk.leaves);
  if (walk.leaves.length === 1 && (top.type === '' || top.type === 'text/plain')) return plainBounce(text, walk.leaves[0]);
  return { notReport: `${top.type} is no delivery report` };
}

/** The message's own Content-Type, from its header section (up to the first blank line). */
function topContentType(text: string): string | undefined {
  const end = /\r?\n\r?\n/.exec(text);
  return parseHeaderBlock(end ? text.slice(0, end.index) : text).find((f) => f.name.toLowerCase() === 'content-type')?.value;
}

export function isReport(r: DeliveryReport | NotAReport): r is DeliveryReport {
  return 'format' in r;
}

// Recognises a delivery-status notification (a bounce) and finds the message it returns, so that the plugin judges
// the returned message rather than the notice wrapped round it: the notices' fixed wording ("Undelivered Mail
// Returned to Sender", "delete your own text") is shared by real bounces and by the virus lures and backscatter
// that dressed as them in the training mail, so it says nothing about which one a report is.
//
// The message is read as a latin1 string, one character per byte, as core/message/mime-leaves.ts reads it.
import { decodeLeaf, walkLeaves, type MimeLeaf } from '../../core/message/mime-leaves.ts';
import { parseHeaderBlock } from '../../core/message/header-block.ts';
import { parseMimeValue } from '../../core/message/mime-params.ts';

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
  opening: RegExp;
  copies: Array<{ line: RegExp; kind: 'message' | 'headers' }>;
}
const PLAIN_FORMS: PlainForm[] = [
  {
    format: 'Exim',
    opening: /^This message was created automatically by mail delivery software\.\r?$/m,
    copies: [
      { line: /^------ This is a copy of the message, including all the headers\. ------\r?\n/m, kind: 'message' },
      { line: /^------ This is a copy of the message's headers\. ------\r?\n/m, kind: 'headers' },
    ],
  },
  {
    format: 'qmail',
    opening: /^Hi\. This is the qmail-send program at \S+\r?$/m,
    copies: [{ line: /^--- Below this line is a copy of the message\.\r?\n/m, kind: 'message' }],
  },
];

/** How the notice of Postfix's form before RFC 3464 reports opens (multipart/mixed, no delivery-status part). */
const OLD_POSTFIX_OPENING = /^This is the (?:Postfix program|mail system) at host \S+\r?$/m;

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

/** A part that no delivery report holds (an archive, a program, a document), or undefined when there is none. */
function foreignPart(leaves: MimeLeaf[], statusTypes: ReadonlySet<string>): string | undefined {
  const known = (t: string) => NOTICE_TYPES.has(t) || t.startsWith('image/') || statusTypes.has(t) || RETURNED_MESSAGE_TYPES.has(t) || RETURNED_HEADER_TYPES.has(t);
  return leaves.map((l) => l.contentType).find((t) => !known(t));
}

/** More than one of what a report holds one of: two returned messages, or two reports. */
function doubled(leaves: MimeLeaf[], types: ReadonlySet<string>): boolean {
  return leaves.filter((l) => types.has(l.contentType)).length > 1;
}

function multipartReport(text: string, leaves: MimeLeaf[]): DeliveryReport | NotAReport {
  const foreign = foreignPart(leaves, STATUS_TYPES);
  if (foreign) return { notReport: `multipart/report holding a ${foreign} part, which no delivery report holds` };
  const status = leaves.filter((l) => STATUS_TYPES.has(l.contentType));
  if (status.length !== 1) return { notReport: `multipart/report with ${status.length} delivery-status parts, not 1` };
  const fields = decodeLeaf(text, status[0]).toString('latin1');
  if (!ACTION.test(fields) || !STATUS.test(fields)) return { notReport: 'its delivery-status part has no recipient\'s Action and Status' };
  if (doubled(leaves, RETURNED_MESSAGE_TYPES) || doubled(leaves, RETURNED_HEADER_TYPES)) return { notReport: 'multipart/report returning more than one message' };
  return { format: 'multipart/report', returned: returnedOf(text, leaves) };
}

/** Postfix before 2.3: a text notice in its own words and the message, in multipart/mixed. */
function oldPostfix(text: string, leaves: MimeLeaf[]): DeliveryReport | NotAReport {
  const notice = leaves[0];
  if (!notice || notice.contentType !== 'text/plain' || !OLD_POSTFIX_OPENING.test(decodeLeaf(text, notice, 4096).toString('latin1'))) {
    return { notReport: 'multipart/mixed without a bounce notice' };
  }
  const foreign = foreignPart(leaves, new Set());
  if (foreign) return { notReport: `multipart/mixed bounce holding a ${foreign} part, which no bounce holds` };
  if (doubled(leaves, RETURNED_MESSAGE_TYPES)) return { notReport: 'multipart/mixed bounce returning more than one message' };
  return { format: 'Postfix (multipart/mixed)', returned: returnedOf(text, leaves) };
}

/** Exim's and qmail's plain-text bounces: the notice, then the copy of the message after the form's line. */
function plainBounce(text: string, leaf: MimeLeaf): DeliveryReport | NotAReport {
  const body = decodeLeaf(text, leaf).toString('latin1');
  const form = PLAIN_FORMS.find((f) => f.opening.test(body));
  if (!form) return { notReport: 'plain text in no bounce format recognised (Exim, qmail)' };
  for (const copy of form.copies) {
    const at = copy.line.exec(body);
    if (!at) continue;
    // A blank line may stand between the copy line and the copy.
    const rest = body.slice(at.index + at[0].length).replace(/^\r?\n/, '');
    return { format: form.format, returned: { kind: copy.kind, bytes: Buffer.from(rest, 'latin1') } };
  }
  return { format: form.format, returned: { kind: 'nothing' } };
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

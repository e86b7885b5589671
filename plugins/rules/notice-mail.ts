// A rule's notice as a message: the admin's templates filled with what the rule saw, in one text/plain part. Nothing
// of the original's body or attachments goes in, and every value quoted from it (its Subject, its addresses) is one
// line of readable text, cut to a bound length: a notice cannot carry malware on, nor let a sender write lines of
// their own into it or turn its text around with bidi controls.
import { randomBytes } from 'node:crypto';
import { encodedWords, mailDate } from '../../core/message/header-block.ts';
import { isAscii } from '../../core/text/ascii.ts';
import { aLabelAddress, readableAddress } from '../../core/text/idn-address.ts';
import { FIELD_REF, type NoticeField } from './notify-config.ts';
import { NOTICE_FIELD, type NoticeMarker } from './notice-marker.ts';

/** Characters of one quoted value (a Subject, an address, the verdict's reason) a notice keeps. */
export const QUOTED_MAX = 200;
/** Recipients a notice lists by name; the rest are counted. */
export const RECIPIENTS_LISTED = 10;
/** Characters of the notice's own Subject, the admin's template filled in. */
const SUBJECT_MAX = 250;

// C0 and C1 controls and DEL become spaces (a line break would start a line of the sender's); marks that change the
// direction or hide text (bidi embeddings, overrides and isolates, zero-width characters, the BOM) go.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** `text` as one line a person can read safely, at most `max` characters (a cut ends in `…`). */
export function quoted(text: string, max = QUOTED_MAX): string {
  const line = text.replace(CONTROLS, ' ').replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
  const chars = [...line];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : line;
}

/** What the rule saw and what became of the message: the values of the template fields. */
export interface NoticeFacts {
  rule: string;
  qid: string;
  sender: string;
  recipients: readonly string[];
  /** The Subject as the criteria read it (decoded). */
  subject: string;
  action: string;
  score: number;
}

export function noticeValues(f: NoticeFacts): Record<NoticeField, string> {
  const listed = f.recipients.slice(0, RECIPIENTS_LISTED).map((r) => quoted(readableAddress(r)));
  const more = f.recipients.length - listed.length;
  return {
    rule: f.rule,
    qid: f.qid,
    sender: f.sender === '' ? '<>' : quoted(readableAddress(f.sender)),
    recipients: listed.join(', ') + (more > 0 ? ` and ${more} more` : ''),
    subject: quoted(f.subject),
    action: quoted(f.action),
    score: String(Math.round(f.score * 100) / 100),
  };
}

/** `template` with each `{field}` replaced by its value; the templates name known fields only (checked at load). */
export function fillTemplate(template: string, values: Record<NoticeField, string>): string {
  return template.replace(FIELD_REF, (whole, name: string) => (name in values ? values[name as NoticeField] : whole));
}

/** Base64 in lines of 76 characters (RFC 2045): no line of the notice is too long, whatever was quoted into it. */
const base64Lines = (text: string) => (Buffer.from(text, 'utf8').toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

export interface NoticeMail {
  from: string;
  to: readonly string[];
  hostname: string;
  rule: string;
  qid: string;
  subject: string;
  body: string;
  marker?: NoticeMarker;
}

/** ASCII text as it is (at most SUBJECT_MAX characters: one line); other text as UTF-8 encoded words, one per line. */
function subjectValue(text: string): string {
  return isAscii(text) ? text : encodedWords(text).split(' ').join('\r\n ');
}

/** The whole notice, CRLF line ends; marked as automatic (RFC 3834) and as the gateway's own (notice-marker.ts). */
export function buildNotice(n: NoticeMail): Buffer {
  const messageId = `<${n.qid || 'message'}.${randomBytes(6).toString('hex')}.rule-notice@${n.hostname}>`;
  const head = [
    `From: ${n.from}`,
    // Folded between addresses and between encoded words: many admins, or a Subject beyond ASCII, make a long line.
    `To: ${n.to.map((a) => aLabelAddress(a) ?? readableAddress(a)).join(',\r\n ')}`,
    `Subject: ${subjectValue(quoted(n.subject, SUBJECT_MAX))}`,
    `Date: ${mailDate()}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    // No vacation reply or other automatic answer to it, and none of ours about it.
    'Auto-Submitted: auto-generated',
    'X-Auto-Response-Suppress: All',
    ...(n.marker ? [`${NOTICE_FIELD}: ${n.marker.value(n.rule, messageId)}`] : []),
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
  ];
  return Buffer.from([...head, '', base64Lines(n.body.endsWith('\r\n') ? n.body : `${n.body}\r\n`), ''].join('\r\n'), 'utf8');
}

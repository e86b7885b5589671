// Parsing of a raw header section into fields, and the HeaderList view over them.
import type { HeaderField, HeaderList } from './types.ts';
import { isUtf8 } from 'node:buffer';
import { isAscii } from '../text/ascii.ts';
import { decodeCharset } from '../text/charset.ts';
import { encodedWords, encodeNonAsciiWords } from '../text/encoded-words.ts';

/** The gateway's own header fields are named `X-Mailmoat-…`, and the mail servers behind it act on them. */
const OWN_PREFIX = 'x-mailmoat-';

/** A header field name: printable ASCII but the colon (RFC 5322 §3.6.8), as a config or a script may give one. */
export const FIELD_NAME = /^[!-9;-~]+$/;

/** Longest field name a plugin may add: with its colon and a value it must still fit a 998-character line. */
const FIELD_NAME_MAX = 200;

/**
 * Fields the core itself writes on every accepted, released or bounced message (the verdict, the release mark, a
 * DSN's queue id): the servers behind act on them, so a second one from a plugin would contradict the core's.
 */
const CORE_FIELDS = new Set([
  'x-mailmoat-verdict', 'x-mailmoat-spam', 'x-mailmoat-spam-score', 'x-mailmoat-spam-level',
  'x-mailmoat-released', 'x-mailmoat-queue-id', 'x-mailmoat-sender',
]);

/**
 * Why `name` cannot be the name of a field a plugin adds (`ctx.addHeader`), or undefined. A space or colon in it
 * would end the name early, and a reader then takes the field, and often the rest of the header section, for
 * something else.
 */
export function addedFieldNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'the name is not a string';
  if (!FIELD_NAME.test(name)) return 'a field name is printable ASCII without spaces or \':\' (RFC 5322 §3.6.8), and not empty';
  if (name.length > FIELD_NAME_MAX) return `a field name is at most ${FIELD_NAME_MAX} characters`;
  if (CORE_FIELDS.has(name.toLowerCase())) return `${name} is written by the gateway's verdict, release or bounce alone`;
  return undefined;
}

/** Index just past the blank line ending the header section, or -1 if not found in `buf`. */
export function headerEnd(buf: Buffer): number {
  if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) return 2; // no headers at all
  const i = buf.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 4;
}

/**
 * Splits a header section into fields; continuation lines join the field before them. A bare LF ends a line too
 * (a MIME part inside a message stored with LF endings); `raw` is always written with CRLF.
 */
export function parseHeaderBlock(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  const lines = block.split(/\r?\n/);
  for (const line of lines) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && fields.length) {
      const f = fields[fields.length - 1];
      f.raw += line + '\r\n';
      f.value += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue; // not a header line; kept out of the view, still in the raw message
    fields.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim(), raw: line + '\r\n' });
  }
  return fields;
}

export class Headers implements HeaderList {
  readonly fields: readonly HeaderField[];
  constructor(fields: HeaderField[]) { this.fields = fields; }
  all(name: string): string[] {
    const n = name.toLowerCase();
    return this.fields.filter((f) => f.name.toLowerCase() === n).map((f) => f.value);
  }
  first(name: string): string | undefined { return this.all(name)[0]; }
  has(name: string): boolean { return this.all(name).length > 0; }
}

/** Text of our own (a config's subject tag, a notice's subject) as RFC 2047 encoded words when it is not ASCII. */
export { encodedWords };

/**
 * The Subject with `tag` in front (the verdict's subject_tag, the rules' tag_subject). `subject` is the message's
 * own (its bytes, one latin1 character per byte) or a plugin's; a tag beyond ASCII goes as encoded words here, so the
 * result is those bytes with an ASCII tag, which formatHeader passes on as they are. Before a subject that starts
 * with an encoded word the space between them would not show (RFC 2047 §6.2), so it is then encoded with the tag.
 */
export function taggedSubject(tag: string, subject: string): string {
  if (!subject) return encodedWords(tag);
  const spaceInside = !isAscii(tag) && /^\s*=\?/.test(subject);
  return spaceInside ? `${encodedWords(`${tag} `)} ${subject}` : `${encodedWords(tag)} ${subject}`;
}

/** RFC 5322 caps a line at 998 characters; mail servers may refuse or cut a longer one. */
const LINE_LIMIT = 998;

/** A time as the Date field writes it (RFC 5322), in UTC: `Sun, 22 Nov 2026 12:00:00 +0000`. */
export function mailDate(ms: number = Date.now()): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}

/** A line made of encoded words is folded at this length, as RFC 5322 §2.1.1 prefers, rather than at 998. */
const SHORT_LINE = 78;

/**
 * Formats a header for prepending, as the queue holds prepended lines: one latin1 character per byte. A value cannot
 * add lines of its own: a line break before a space or tab (a value folded already) is unfolded, any other CR or LF
 * becomes a space, which is what a reader unfolding the field would see. Its text then becomes bytes (headerBytes). A
 * line over 998 characters is then folded before a space or tab (a Subject the client folded over many lines, a
 * verdict with many symbols), and one that got encoded words over 78, which leaves the value as it was once unfolded.
 */
export function formatHeader(name: string, value: string): string {
  const text = unfoldedValue(value);
  const bytes = headerBytes(text);
  const line = `${name}: ${bytes}`;
  if (bytes === text) return `${foldedLine(line, name.length + 2, LINE_LIMIT)}\r\n`;
  // An encoded word is up to 75 characters, so after a name it may not fit the first line: the fold may then come
  // right after the colon (`Subject:` alone, the words on the lines below), which unfolds to the same value.
  return `${foldedLine(line, name.length + 1, SHORT_LINE)}\r\n`;
}

/**
 * A header value as the bytes that carry it, one latin1 character per byte. Values come as text (a plugin's note, a
 * name, a verdict's detail) or as a message's own header bytes, which every header the gateway reads holds one latin1
 * character per byte and a plugin may pass on (the rules plugin's tagged Subject); a string cannot say which, so:
 * - ASCII goes as it is;
 * - characters that are all bytes (U+0000–U+00FF) spelling UTF-8 are a message's UTF-8 header, as an SMTPUTF8 client
 *   sends it, and go as they came (text such as `Ã©`, UTF-8 read as Latin-1 once already, would be taken so too);
 * - anything else is text: its words beyond ASCII become RFC 2047 encoded words (UTF-8), valid to every reader, with
 *   or without SMTPUTF8. Characters that are all bytes but not UTF-8 (`café` as a plugin writes it, or a client's
 *   8-bit Latin-1) are read as Windows-1252, as mail clients read undeclared 8-bit text; written raw they were bytes
 *   no reader took for UTF-8, and a character above U+00FF was cut to its low byte.
 */
export function headerBytes(value: string): string {
  if (isAscii(value)) return value;
  if (!/[^\x00-\xff]/.test(value)) {
    if (isUtf8(Buffer.from(value, 'latin1'))) return value;
    return encodeNonAsciiWords(decodeCharset(value, 'windows-1252'));
  }
  return encodeNonAsciiWords(value);
}

/**
 * `line` folded before a space or tab where it is longer than `limit`, never before index `floor` (inside the name
 * and its colon). Each folded line must hold text before its fold, and the fold text after it: a line of
 * only spaces would be no line of the field (some readers take it for the end of the header section).
 */
function foldedLine(line: string, floor: number, limit: number): string {
  if (line.length <= limit) return line;
  let lastText = line.length - 1;
  while (lastText >= 0 && isFoldSpace(line, lastText)) lastText--;
  const lines: string[] = [];
  let start = 0;
  while (line.length - start > limit) {
    let firstText = start;
    while (firstText < lastText && isFoldSpace(line, firstText)) firstText++;
    const at = foldPoint(line, Math.max(floor, firstText + 1), start + limit, lastText);
    if (at < 0) break; // no space to fold at: the line stays long rather than the value changed
    lines.push(line.slice(start, at));
    start = at;
    floor = at + 1;
  }
  lines.push(line.slice(start));
  return lines.join('\r\n');
}

/** `value` on one line: folds undone (RFC 5322 §2.2.3), other line breaks turned into spaces. */
export function unfoldedValue(value: string): string {
  return value.replace(/\r?\n(?=[ \t])/g, '').replace(/[\r\n]+/g, ' ');
}

function isFoldSpace(line: string, k: number): boolean {
  return line[k] === ' ' || line[k] === '\t';
}

/** The last space or tab in [from, limit], else the first one past `limit`, before `lastText`; -1 if none. */
function foldPoint(line: string, from: number, limit: number, lastText: number): number {
  for (let k = Math.min(limit, lastText - 1); k >= from; k--) if (isFoldSpace(line, k)) return k;
  for (let k = Math.max(limit + 1, from); k < lastText; k++) if (isFoldSpace(line, k)) return k;
  return -1;
}

const startsFolded = (block: Buffer) => block.length > 0 && (block[0] === 0x20 || block[0] === 0x09);

/** Whether a line of the header section is a name of the gateway's namespace alone, with no colon on it. */
function bareOwnName(block: Buffer): boolean {
  const end = headerEnd(block);
  const text = block.toString('latin1', 0, end < 0 ? block.length : end).toLowerCase();
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith(OWN_PREFIX) && !line.includes(':')) return true;
  }
  return false;
}

/**
 * Names (lower case) to remove from a received message so that no field of the gateway's namespace that came with it
 * passes for one of the gateway's own: every such field in its header section `block` (parsed as `fields`). A header
 * section longer than the gateway reads (`block` then lacks its blank line) may hold more further on, so then the
 * whole namespace is removed (`x-mailmoat-*`, which the relay's filter matches as a prefix at any depth).
 */
export function ownFieldsToRemove(block: Buffer, fields: readonly HeaderField[]): string[] {
  // A section that opens with a continuation line must pass the relay's filter, which drops such lines: unfiltered,
  // the line would continue the last header the gateway prepends.
  if (headerEnd(block) < 0 || startsFolded(block)) return [`${OWN_PREFIX}*`];
  const names = new Set<string>();
  for (const f of fields) if (f.name.toLowerCase().startsWith(OWN_PREFIX)) names.add(f.name.toLowerCase());
  // A line with no colon that names one of ours, its colon folded onto the next line, is no field to parseHeaderBlock
  // but is one to readers that unfold first (mailparser): the filter then takes the namespace, which covers it.
  if (bareOwnName(block)) return [`${OWN_PREFIX}*`];
  return [...names];
}

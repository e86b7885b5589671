// A small, fast MIME reader that gives the tokenizer headers, decoded text and HTML, and attachment names.
// The gateway and the trainer both use it, so a message yields the same tokens when learned and when scored;
// it trades completeness (of a nested message/rfc822 header section it reads only the Subject) for speed.
import { extendedParam, parseMimeValue } from '../../../core/message/mime-params.ts';
import { decodeCharset } from '../../../core/text/charset.ts';
import { decodeQuotedPrintable, decodeWords } from '../../../core/text/encoded-words.ts';

export { decodeCharset, decodeWords };

export interface MailHeader { name: string; value: string }

export interface MailAttachment { filename: string; contentType: string }

export interface MailContent {
  headers: MailHeader[];
  text: string;
  html: string;
  attachments: MailAttachment[];
}

export interface MimeLimits {
  /** Bytes of the message read at most; the rest is ignored. */
  maxBytes: number;
  /** Decoded characters of text and HTML kept at most. */
  maxTextChars: number;
}

const DEFAULT_LIMITS: MimeLimits = { maxBytes: 512 * 1024, maxTextChars: 200_000 };
const MAX_PARTS = 64;
const MAX_DEPTH = 8;

function decodeTransfer(body: string, encoding: string): string {
  if (encoding === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return body;
}

/** Splits a header block (latin1 string) into unfolded fields. */
function parseHeaderBlock(block: string): MailHeader[] {
  const out: MailHeader[] = [];
  const lines = block.split(/\r?\n/);
  for (const line of lines) {
    if (line === '') continue;
    // An mbox "From " separator (splitHead passed over it) is no field, though its time has colons.
    if (out.length === 0 && line.startsWith('From ')) continue;
    const c = line.charCodeAt(0);
    if ((c === 32 || c === 9) && out.length) { out[out.length - 1].value += ' ' + line.trim(); continue; }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return out;
}

/**
 * Finds where the header section ends. Besides the blank line, the first line that is neither a field
 * nor a continuation ends it too: preprocessed corpora carry a `Subject:` line followed straight by text.
 */
function splitHead(s: string): [head: string, body: string] {
  let pos = 0;
  let sawField = false;
  while (pos < s.length) {
    let nl = s.indexOf('\n', pos);
    if (nl < 0) nl = s.length;
    const line = s.charCodeAt(nl - 1) === 13 ? s.slice(pos, nl - 1) : s.slice(pos, nl);
    if (line === '') return [s.slice(0, pos), s.slice(nl + 1)];
    const c = line.charCodeAt(0);
    const continuation = (c === 32 || c === 9) && sawField;
    if (!continuation && !/^[\x21-\x39\x3b-\x7e]+:/.test(line)) {
      // "From " mbox separators are skipped rather than taken as body.
      if (!sawField && line.startsWith('From ')) { pos = nl + 1; continue; }
      return [s.slice(0, pos), s.slice(pos)];
    }
    sawField = true;
    pos = nl + 1;
  }
  return [s, ''];
}

function headerValue(headers: MailHeader[], name: string): string {
  for (const h of headers) if (h.name === name) return h.value;
  return '';
}

function filenameOf(headers: MailHeader[], ctParams: Record<string, string>): string {
  const cd = headerValue(headers, 'content-disposition');
  if (cd) {
    const name = paramText(parseMimeValue(cd).params, 'filename');
    if (name) return decodeWords(name);
  }
  return decodeWords(paramText(ctParams, 'name'));
}

/** A parameter as a mail client shows it: its RFC 2231 form when it has one, else its plain value ('' if none). */
function paramText(params: Record<string, string>, name: string): string {
  return extendedParam(params, name) ?? params[name] ?? '';
}

interface Acc { text: string[]; html: string[]; attachments: MailAttachment[]; parts: number; chars: number; limits: MimeLimits }

function walk(headers: MailHeader[], body: string, acc: Acc, depth: number): void {
  if (++acc.parts > MAX_PARTS) return;
  const ct = parseMimeValue(headerValue(headers, 'content-type') || 'text/plain');
  const type = ct.type || 'text/plain';
  if (type.startsWith('multipart/') && ct.params.boundary && depth < MAX_DEPTH) {
    const delim = '--' + ct.params.boundary;
    const pieces = body.split(delim);
    // pieces[0] is the preamble; a piece starting with "--" is the epilogue after the close delimiter.
    for (let i = 1; i < pieces.length; i++) {
      const piece = pieces[i];
      if (piece.startsWith('--')) break;
      const start = piece.indexOf('\n');
      if (start < 0) continue;
      const [h, b] = splitHead(piece.slice(start + 1));
      walk(parseHeaderBlock(h), b, acc, depth + 1);
    }
    return;
  }
  if (type === 'message/rfc822' && depth < MAX_DEPTH) {
    const [h, b] = splitHead(body);
    const inner = parseHeaderBlock(h);
    // A forwarded or bounced message shows its own subject to whoever opens it: that is text of the message.
    const subject = headerValue(inner, 'subject');
    if (subject && acc.chars < acc.limits.maxTextChars) {
      const text = decodeWords(decodeCharset(subject, 'utf-8')).slice(0, acc.limits.maxTextChars - acc.chars);
      acc.chars += text.length;
      acc.text.push(text);
    }
    walk(inner, b, acc, depth + 1);
    return;
  }
  const encoding = headerValue(headers, 'content-transfer-encoding').toLowerCase().trim();
  const filename = filenameOf(headers, ct.params);
  const disposition = headerValue(headers, 'content-disposition').toLowerCase();
  const isText = type === 'text/plain' || type === 'text/html' || type === 'text' || type === '';
  if (!isText || filename || disposition.startsWith('attachment')) {
    acc.attachments.push({ filename, contentType: type });
    if (!isText || disposition.startsWith('attachment')) return;
  }
  if (acc.chars >= acc.limits.maxTextChars) return;
  let text = decodeCharset(decodeTransfer(body, encoding), ct.params.charset ?? 'utf-8');
  if (text.length > acc.limits.maxTextChars - acc.chars) text = text.slice(0, acc.limits.maxTextChars - acc.chars);
  acc.chars += text.length;
  (type === 'text/html' ? acc.html : acc.text).push(text);
}

/** Parses a raw message into headers, text, HTML and attachment names. */
export function parseMail(raw: Buffer | string, limits: Partial<MimeLimits> = {}): MailContent {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  let s = typeof raw === 'string' ? raw : raw.toString('latin1', 0, Math.min(raw.length, lim.maxBytes));
  if (s.length > lim.maxBytes) s = s.slice(0, lim.maxBytes);
  const [head, body] = splitHead(s);
  const headers = parseHeaderBlock(head);
  const acc: Acc = { text: [], html: [], attachments: [], parts: 0, chars: 0, limits: lim };
  walk(headers, body, acc, 0);
  for (const h of headers) h.value = decodeWords(decodeCharset(h.value, 'utf-8'));
  return { headers, text: acc.text.join('\n'), html: acc.html.join('\n'), attachments: acc.attachments };
}

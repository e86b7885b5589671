// MailEnable's two dictionary formats, TAB (our own on-disk format too, in tab-file.ts) and XML, read and written.
import { Dictionary } from './dictionary.ts';
import {
  decodeUtf8OrWindows1252, fromTab, hasUtf8Mark, isFileToken, MAX_COUNT, toTab, utf16Mark, type Malformed, type ReadReport,
} from './tab-file.ts';

export { fromTab, toTab, type Malformed, type ReadReport };

export type DictFormat = 'tab' | 'xml';

/** The format a file name implies, as MailEnable decides it: `.xml` is XML, anything else TAB. */
export function formatOf(path: string): DictFormat {
  return path.toLowerCase().endsWith('.xml') ? 'xml' : 'tab';
}

/**
 * The UTF-16 a dictionary file's bytes are in: a byte order mark's, else the one its first character is written in
 * when that is `<` as two bytes (an XML file without a mark); undefined for a file that is not UTF-16.
 */
export function utf16Of(data: Uint8Array): 'utf-16le' | 'utf-16be' | undefined {
  const marked = utf16Mark(data);
  if (marked) return marked;
  if (data[0] === 0x3c && data[1] === 0) return 'utf-16le';
  if (data[0] === 0 && data[1] === 0x3c) return 'utf-16be';
  return undefined;
}

/**
 * The format a dictionary file's bytes are in, whatever its name: XML when its first character (after a byte order
 * mark and white space, in UTF-16 too) is `<`, else TAB, whose first line is two numbers.
 */
export function formatIn(data: Uint8Array): DictFormat {
  const head = data.subarray(0, 256);
  const utf16 = utf16Of(head);
  const text = utf16 ? new TextDecoder(utf16).decode(head) : Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1');
  return /^(?:\ufeff|\u00ef\u00bb\u00bf)?\s*</.test(text) ? 'xml' : 'tab';
}

/** Tokens never hold whitespace; a foreign dictionary's token that does is made safe rather than dropped. */
function safeToken(t: string): string {
  return /[\t\r\n]/.test(t) ? t.replace(/[\t\r\n]+/g, '_') : t;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Characters XML 1.0 cannot carry at all, not even as a reference (`&#x1;` is not well-formed either): the controls
// other than tab and line breaks (which `safeToken` makes `_`), U+FFFE and U+FFFF. Lone surrogates go to U+FFFD
// (`toWellFormed`), as a TAB file writes them.
const NOT_IN_XML = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;
/** The attribute that marks an entry whose token is written percent-encoded (`encodeForXml`). */
const ENCODED = 'ENCODED="percent"';

/**
 * An entry's token as XML text, and whether it had to be percent-encoded: a token holding a character XML 1.0 cannot
 * carry is written with that character's UTF-8 bytes as `%XX` and its own `%` as `%25`, and its entry marked
 * `ENCODED="percent"`, which the import reads back. Only such tokens are encoded, so every other is written as it is.
 */
function encodeForXml(token: string): { text: string; encoded: boolean } {
  const t = safeToken(token).toWellFormed();
  if (!NOT_IN_XML.test(t)) return { text: escapeXml(t), encoded: false };
  const g = new RegExp(`%|${NOT_IN_XML.source}`, 'g');
  return { text: escapeXml(t.replace(g, (c) => encodeURIComponent(c))), encoded: true };
}

/** A percent-encoded token (`encodeForXml`) as it was, or undefined when its escapes are not UTF-8. */
function percentDecoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };

/** The text with its references replaced, or undefined when a reference names no Unicode character (`&#xD800;`). */
function unescapeXml(s: string): string | undefined {
  if (!s.includes('&')) return s;
  let valid = true;
  const text = s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (ref, e: string) => {
    if (e[0] !== '#') return NAMED[e.toLowerCase()];
    const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      valid = false;
      return ref;
    }
    return String.fromCodePoint(cp);
  });
  return valid ? text : undefined;
}

/**
 * XML: `<ELEMENTS><ENTRIES W="ham messages" B="spam messages"><E W="ham" B="spam">token</E>…</ENTRIES></ELEMENTS>`,
 * an entry whose token XML cannot carry as it is marked `ENCODED="percent"` (`encodeForXml`).
 */
export function toXml(d: Dictionary): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>', '<ELEMENTS>', `<ENTRIES W="${d.nham}" B="${d.nspam}">`];
  for (const e of d.entries()) {
    // What a reader would pass over is left out, as `toTab` does.
    if (!isFileToken(e.token)) continue;
    const { text, encoded } = encodeForXml(e.token);
    out.push(`<E W="${e.ham}" B="${e.spam}"${encoded ? ` ${ENCODED}` : ''}>${text}</E>`);
  }
  out.push('</ENTRIES>', '</ELEMENTS>');
  return out.join('\n') + '\n';
}

/** A count attribute's value as a number, or -1 when it is not a whole number (digits only) up to MAX_COUNT. */
function countValue(text: string): number {
  return /^\d+$/.test(text) && Number(text) <= MAX_COUNT ? Number(text) : -1;
}

/** Every B= and W= attribute of a tag, quoted or not, with its value. */
function countAttrs(tag: string): Array<{ name: string; value: string }> {
  return [...tag.matchAll(/\b([BW])\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]*))/gi)]
    .map((m) => ({ name: m[1].toUpperCase(), value: m[2] ?? m[3] ?? m[4] }));
}

/**
 * A tag's spam (B) and ham (W) counts, a missing one 0; undefined when any B= or W= is not a whole number up to
 * MAX_COUNT (larger would not fit the dictionary's counts, and wrap).
 */
function countsOf(tag: string): { spam: number; ham: number } | undefined {
  const counts = { spam: -1, ham: -1 };
  for (const { name, value } of countAttrs(tag)) {
    const n = countValue(value);
    if (n < 0) return undefined;
    if (name === 'B' && counts.spam < 0) counts.spam = n;
    if (name === 'W' && counts.ham < 0) counts.ham = n;
  }
  return { spam: Math.max(0, counts.spam), ham: Math.max(0, counts.ham) };
}

/** An encoding's name as TextDecoder knows it, or an error naming the label the file gave. */
function encodingNamed(label: string): string {
  try {
    return new TextDecoder(label).encoding;
  } catch {
    throw new Error(`not an XML dictionary that can be read: its declaration names the encoding "${label}", which is unknown`);
  }
}

/**
 * The encoding of an XML file's bytes: UTF-16 when `utf16Of` finds it, else what the declaration names (`<?xml version="1.0" encoding="ISO-8859-1"?>`), else UTF-8. A
 * declaration of UTF-16 that could be read as ASCII is wrong (the file is not UTF-16), and UTF-8 is taken instead.
 */
function xmlEncoding(data: Uint8Array): string {
  const utf16 = utf16Of(data);
  if (utf16) return utf16;
  if (hasUtf8Mark(data)) return 'utf-8';
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, 256)).toString('latin1');
  const declared = /^\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([^"']*)["']/.exec(head);
  const encoding = declared ? encodingNamed(declared[1].trim()) : 'utf-8';
  return encoding.startsWith('utf-16') ? 'utf-8' : encoding;
}

/**
 * An XML file's text, read in its encoding (`xmlEncoding`), which goes to `report` when it is not UTF-8. Bytes
 * that should be UTF-8 and are not are read as Windows-1252, as a TAB file's are: a Windows program that wrote
 * its own code page and called it UTF-8 is likelier than text meant to be read as U+FFFD.
 */
export function xmlText(data: Uint8Array, report?: ReadReport): string {
  let encoding = xmlEncoding(data);
  let text: string;
  if (encoding === 'utf-8' && !hasUtf8Mark(data)) ({ text, encoding } = decodeUtf8OrWindows1252(data));
  else text = new TextDecoder(encoding).decode(data);
  if (report && encoding !== 'utf-8') report.encoding = encoding;
  return text;
}

/** An entry's attributes mark its token as percent-encoded (`encodeForXml`). */
const ENCODED_ATTR = /\bENCODED\s*=\s*["']percent["']/i;

/**
 * Reads MailEnable's XML, as text or as the file's bytes (read in the encoding it declares, see `xmlText`). An
 * `<E>` entry that is not `<E …>token</E>` with whole-number counts up to MAX_COUNT, or whose token is empty, starts
 * with `#` (`isFileToken`), holds a reference to no character or, marked `ENCODED="percent"`, an escape that is
 * not UTF-8, is passed over and counted in `report` (its place given as the entry's number, 1-based); a missing
 * count is 0. A file cut short (no `</ENTRIES>` after the last entry,
 * no `</ELEMENTS>` when it opened one, or an entry's tag left open at the end) counts as one more malformed entry,
 * the one after the last read, as a TAB file cut mid-line counts its last line: read silently, it looked whole, and
 * the gateway's next flush wrote it back whole-looking, so the loss could no longer be seen.
 */
export function fromXml(data: Buffer | string, report?: ReadReport): Dictionary {
  const text = typeof data === 'string' ? data : xmlText(data, report);
  const d = new Dictionary();
  const head = /<ENTRIES\b[^>]*>/i.exec(text);
  if (!head) throw new Error('not an XML dictionary: no <ENTRIES> element');
  const messages = countsOf(head[0]);
  if (!messages) throw new Error(`not an XML dictionary: its <ENTRIES> must hold the message counts W= and B= as whole numbers up to ${MAX_COUNT}, not ${head[0]}`);
  d.nham = messages.ham;
  d.nspam = messages.spam;
  const malformed = (n: number) => { if (report && !report.count++) report.first = n; };
  // Every entry's start, so that one the full pattern does not match is noticed instead of silently lost.
  const re = /<E\b([^>]*)>(?:([^<]*)<\/E>)?/gi;
  re.lastIndex = head.index + head[0].length;
  let m: RegExpExecArray | null;
  let n = 0;
  let end = re.lastIndex;
  let lastBad = false;
  while ((m = re.exec(text))) {
    n++;
    end = re.lastIndex;
    const counts = countsOf(m[1]);
    const unescaped = m[2] === undefined ? undefined : unescapeXml(m[2]);
    const raw = unescaped !== undefined && ENCODED_ATTR.test(m[1]) ? percentDecoded(unescaped) : unescaped;
    const token = raw === undefined ? '' : safeToken(raw);
    lastBad = !counts || !isFileToken(token);
    if (!counts || lastBad) {
      malformed(n);
      continue;
    }
    d.add(token, counts.spam, counts.ham);
  }
  const cut = cutShort(text, head.index, end);
  // An entry cut inside its text (`<E W="1" B="2">vi`) was counted above: that is where the file ends.
  if (cut === 'dangling' || (cut === 'unclosed' && !lastBad)) malformed(n + 1);
  return d;
}

/**
 * Whether an XML dictionary ends before its closing tags, judged from where `<ENTRIES>` starts (`entriesAt`) and
 * where its last entry read ends (`end`): `dangling` when an entry's tag is still open there (`<E W="3`), `unclosed`
 * when `</ENTRIES>` (or, for a file that opened `<ELEMENTS>`, `</ELEMENTS>` after it) never comes.
 */
function cutShort(text: string, entriesAt: number, end: number): 'dangling' | 'unclosed' | null {
  const rest = text.slice(end);
  const close = /<\/ENTRIES\s*>/i.exec(rest);
  if (/<E\b/i.test(close ? rest.slice(0, close.index) : rest)) return 'dangling';
  if (!close) return 'unclosed';
  const rooted = /<ELEMENTS\b/i.test(text.slice(0, entriesAt));
  if (rooted && !/<\/ELEMENTS\s*>/i.test(rest.slice(close.index))) return 'unclosed';
  return null;
}

/**
 * The dictionary as the bytes of a file in `format`. TAB keeps the linear model's weights unless `forMailEnable`
 * (MailEnable's own three fields only); XML never has them.
 */
export function serialize(d: Dictionary, format: DictFormat, forMailEnable = false): Buffer {
  return format === 'xml' ? Buffer.from(toXml(d), 'utf8') : toTab(d, !forMailEnable);
}

/**
 * A dictionary from the bytes of a file in `format`; lines or entries passed over are counted in `report`, and the
 * encoding the file was read in goes there too when it was not UTF-8.
 */
export function deserialize(data: Buffer, format: DictFormat, report?: ReadReport): Dictionary {
  return format === 'xml' ? fromXml(data, report) : fromTab(data, report);
}

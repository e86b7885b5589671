// MailEnable's TAB dictionary format, our own on-disk format too, written and read as bytes:
// a first line `<spam messages>\t<ham messages>`, then one `token\t<spam>\t<ham>` line per token, in UTF-8.
// Our own files add a fourth field to a token with a weight in the linear model (engine/linear.ts), a decimal
// number that always holds a point: `token\t<spam>\t<ham>\t<weight>`. A line may hold the byte model
// (engine/byte-grams.ts): `#byte-grams\t4\t<prefix bytes>\t<bucket bits>\t<messages>\t<state>`, the state being
// its 32-bit floats, little-endian, in base64; a reader that does not know the line skips it, as its fields are
// no counts. An export for MailEnable leaves out both.
//
// The model's line is written second, right after the message counts; files written before session 34 have it last,
// and read the same, as the reader takes it wherever it is. Why second: the line is 2.8 MB, 40% of the shipped
// dictionary, and a copy cut short loses its end. Last, any cut at all lost the whole model (every message scores
// differently without it); second, a cut loses the tokens at the end, the last learned and rarest, in proportion to
// what was cut, and the model goes only when more than the tokens is cut. So that such a cut is still noticed, a file
// that holds a model line (only our writer writes one, and it ends every line with a line break) and whose last line
// after it has no line break was cut there: that line is passed over and counted, as a malformed one is. A cut that
// falls exactly at a line break leaves no such line, so a file with a model line also ends with `#end\t<lines>`, the
// number of token lines written before it: a file whose model line is second and that lacks this last line, or
// whose number is not the lines read, was cut (or added to) and counts one malformed line more, at the place of the
// missing one. Files written before session 34 (the model last, no `#end`) read as before. A reader that does not
// know the line passes it over as it does any `#` line: its two fields make no token line.
//
// Lines starting with `#` are the file's own, so no token starts with `#` (our tokenizer never makes one); nor is a
// token ever empty. Readers pass such tokens over and writers leave them out, so whatever is written reads back.
// A count is digits only, up to MAX_COUNT; a line with other counts, or other than three or four fields, is passed
// over and counted, never read as something else.
//
// MailEnable runs on Windows, and its files may be in Windows-1252 rather than UTF-8: a file that is not valid
// UTF-8 is read as Windows-1252 (and one with a UTF-16 byte order mark as UTF-16), and the reader says so.
//
// Why bytes and not a string of lines: a running gateway rewrites its dictionary file whenever it saves what it
// learned, and a string per token (and per line) made that the slowest thing it did. A file of 1.4 million tokens
// took 2–3 s to write and 1.8 s to read, all of it on the event loop. Here tokens go from the dictionary's own
// array of UTF-16 units straight into the file's bytes, in token order with counts from two dense arrays. ASCII
// tokens (nearly all) are read back without a string: they are hashed and stored from the file's bytes.
import { Dictionary, MAX_COUNT, WEIGHT_SCALE } from './dictionary.ts';
import { ByteGramModel } from './byte-grams.ts';
import { isUtf8 } from 'node:buffer';
import { olderFileToken } from './file-token.ts';

export { MAX_COUNT };

const TAB = 9;
const LF = 10;
const CR = 13;
const UNDERSCORE = 95;
const HASH = 35;

/** The last line of a file with a byte model: the mark, then how many token lines stand before it. */
const END_MARK = Buffer.from('#end\t', 'latin1');


/** Whether `token` can be a token of a dictionary file: not empty, and not starting with `#` (see above). */
export function isFileToken(token: string): boolean {
  return token !== '' && token.charCodeAt(0) !== HASH;
}

/** A growing byte buffer that writes a line's parts without making strings. */
class ByteWriter {
  buf: Buffer;
  at = 0;
  constructor(size: number) { this.buf = Buffer.allocUnsafe(Math.max(64, size)); }

  /** Room for `n` more bytes. */
  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  byte(b: number): void { this.buf[this.at++] = b; }

  /** A weight: a signed decimal with as many digits after the point as WEIGHT_SCALE has zeros. */
  weight(x: number): void {
    this.room(32);
    const scaled = Math.round(Math.abs(x) * WEIGHT_SCALE);
    if (x < 0 && scaled > 0) this.byte(45);
    this.count(Math.floor(scaled / WEIGHT_SCALE));
    this.byte(46);
    const frac = scaled % WEIGHT_SCALE;
    for (let p = WEIGHT_SCALE / 10; p >= 1; p /= 10) this.byte(48 + (Math.floor(frac / p) % 10));
  }

  /** A count: a non-negative integer, in decimal. */
  count(n: number): void {
    this.room(16);
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    this.at += digits;
    for (let k = this.at - 1; k >= this.at - digits; k--) {
      this.buf[k] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
  }
}

/**
 * Writes UTF-16 units `from`…`to` of `units` as UTF-8, as `Buffer.from(string)` would (a lone surrogate becomes
 * U+FFFD), with each run of tabs and line breaks as one `_` (a token never holds whitespace; a foreign dictionary's
 * token that does is made safe rather than dropped, as `safeToken` does for XML).
 */
function writeToken(w: ByteWriter, units: Uint16Array, from: number, to: number): void {
  w.room((to - from) * 3);
  const buf = w.buf;
  let at = w.at;
  let inBreak = false;
  for (let k = from; k < to; k++) {
    const c = units[k];
    if (c === TAB || c === LF || c === CR) {
      if (!inBreak) buf[at++] = UNDERSCORE;
      inBreak = true;
      continue;
    }
    inBreak = false;
    if (c < 0x80) buf[at++] = c;
    else if (c < 0x800) {
      buf[at++] = 0xc0 | (c >> 6);
      buf[at++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff && k + 1 < to && units[k + 1] >= 0xdc00 && units[k + 1] <= 0xdfff) {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (units[++k] - 0xdc00);
      buf[at++] = 0xf0 | (cp >> 18);
      buf[at++] = 0x80 | ((cp >> 12) & 0x3f);
      buf[at++] = 0x80 | ((cp >> 6) & 0x3f);
      buf[at++] = 0x80 | (cp & 0x3f);
    } else {
      const u = c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
      buf[at++] = 0xe0 | (u >> 12);
      buf[at++] = 0x80 | ((u >> 6) & 0x3f);
      buf[at++] = 0x80 | (u & 0x3f);
    }
  }
  w.at = at;
}

/**
 * The dictionary as a TAB file: tokens in the order first learned, those with no counts left out, and so is any
 * token a file cannot hold (`isFileToken`), which only code that builds a dictionary by hand can have added.
 */
export function toTab(d: Dictionary, withModels = true): Buffer {
  const { units, ends, count } = d.textView();
  const { spam, ham } = d.countsByIds();
  const weights = withModels && d.hasWeights ? d.weightsByIds() : undefined;
  const w = new ByteWriter(units.length + count * 12 + 32);
  w.count(d.nspam);
  w.byte(TAB);
  w.count(d.nham);
  w.byte(LF);
  const model = withModels && d.byteGrams;
  if (model) writeByteGrams(w, model);
  let written = 0;
  for (let t = 0; t < count; t++) {
    const from = t === 0 ? 0 : ends[t - 1];
    if ((spam[t] === 0 && ham[t] === 0) || from === ends[t] || units[from] === HASH) continue;
    written++;
    writeToken(w, units, from, ends[t]);
    w.room(40);
    w.byte(TAB);
    w.count(spam[t]);
    w.byte(TAB);
    w.count(ham[t]);
    if (weights && weights[t] !== 0) {
      w.byte(TAB);
      w.weight(weights[t]);
    }
    w.byte(LF);
  }
  if (model) {
    w.room(END_MARK.length + 17);
    w.at += END_MARK.copy(w.buf, w.at);
    w.count(written);
    w.byte(LF);
  }
  return w.buf.subarray(0, w.at);
}

const BYTE_GRAMS = '#byte-grams\t';
const BYTE_GRAMS_MARK = Buffer.from(BYTE_GRAMS, 'latin1');
const BIG_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 0;

/** The state's bytes little-endian, whatever the machine's order. */
function littleEndian(state: Float32Array): Buffer {
  const b = Buffer.from(state.buffer, state.byteOffset, state.byteLength);
  return BIG_ENDIAN ? Buffer.from(b).swap32() : b;
}

function writeByteGrams(w: ByteWriter, m: ByteGramModel): void {
  const line = `${BYTE_GRAMS}4\t${m.prefixBytes}\t${m.bits}\t${m.messages}\t${littleEndian(m.state).toString('base64')}\n`;
  w.room(line.length);
  w.at += w.buf.write(line, w.at, 'latin1');
}

/** A byte model's line that is whole but of a kind this version does not read. */
class OtherKind extends Error {}

/** The byte model from its line's fields (after the mark), or an error saying what is wrong with it. */
function readByteGrams(line: string): ByteGramModel {
  const f = line.split('\t');
  // The first field says which byte model the line holds; another number on a line shaped like a model (its state
  // last, in base64) is a model of another version of the program, whole but unreadable here, and the admin needs
  // to hear that rather than "malformed". A short line (an old import's `#byte-grams` token) is malformed.
  if (f.length >= 5 && /^\d+$/.test(f[0]) && f[0] !== '4' && /^[A-Za-z0-9+/]+=*$/.test(f[f.length - 1])) {
    throw new OtherKind(`the byte model is of kind ${f[0]}, and this version of mailmoat reads kind 4 only: the file was written by another version; rebuild it with \`moat bayes create\`, or run the version that wrote it`);
  }
  if (f.length !== 5 || f[0] !== '4' || !f.slice(1, 4).every((x) => /^\d+$/.test(x))) throw new Error('the #byte-grams line is malformed');
  const bytes = Buffer.from(f[4], 'base64');
  if (bytes.length % 4 !== 0) throw new Error('the #byte-grams line is malformed: its state is not 32-bit floats');
  const own = new Uint8Array(bytes.length);
  own.set(bytes);
  if (BIG_ENDIAN) Buffer.from(own.buffer).swap32();
  try {
    return new ByteGramModel(new Float32Array(own.buffer), Number(f[3]), Number(f[2]), Number(f[1]));
  } catch (e) {
    throw new Error(`the #byte-grams line is malformed: ${(e as Error).message}`);
  }
}

/**
 * The byte model's line (`l`, line `lineNo`) into `d`; true when it is damaged and was left out, which `report` then
 * says. A model of another kind, whole, is an error whatever the report: the file is another version's, not damaged.
 */
function readModelLine(d: Dictionary, buf: Buffer, l: Line, lineNo: number, report: ReadReport | undefined): boolean {
  try {
    d.byteGrams = readByteGrams(buf.toString('latin1', l.from + BYTE_GRAMS_MARK.length, l.end));
    return false;
  } catch (e) {
    const why = (e as Error).message;
    if (e instanceof OtherKind) throw new Error(`line ${lineNo}: ${why}`);
    if (!report) throw new Error(`line ${lineNo}: ${why} (a file cut short there? \`moat bayes import\` of it into itself keeps its tokens and leaves the model out)`);
    d.byteGrams = undefined;
    report.droppedModel = `left out the byte model, whose line ${lineNo} is damaged (${why.replace(/^the #byte-grams line is malformed: ?/, '') || 'malformed'}): scoring without it`;
    return true;
  }
}

/**
 * A weight field's value, or NaN when the bytes are not a decimal number with a point (`-?digits.digits`). Read
 * in place: the digits as one integer, divided by the power of ten after the point, which is exactly what
 * `Number` gives for the same text while the integer stays below 2^53.
 */
function weightField(bytes: Uint8Array, buf: Buffer, from: number, to: number): number {
  let k = from;
  const negative = bytes[k] === 45;
  if (negative) k++;
  let n = 0;
  let digits = 0;
  let point = -1;
  for (; k < to; k++) {
    const c = bytes[k];
    if (c === 46 && point < 0) { point = k; continue; }
    if (c < 48 || c > 57) return NaN;
    n = n * 10 + (c - 48);
    digits++;
  }
  if (point < 0 || point === to - 1) return NaN;
  if (digits > 15) return Number(buf.toString('latin1', from, to));
  const value = n / 10 ** (to - point - 1);
  return negative ? -value : value;
}

/** A count field: digits only, at most MAX_COUNT; -1 when it is anything else (empty included). */
function countField(bytes: Uint8Array, from: number, to: number): number {
  if (to === from) return -1;
  let n = 0;
  for (let k = from; k < to; k++) {
    const c = bytes[k] - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
    if (n > MAX_COUNT) return -1;
  }
  return n;
}

/** Whether the bytes are ASCII without whitespace (a space, a vertical tab, a form feed, a carriage return). */
function isPlainAscii(bytes: Uint8Array, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = bytes[k];
    if (c >= 0x80 || c === 32 || (c >= 11 && c <= 13)) return false;
  }
  return true;
}

/** Lines (or XML entries) a reader passed over: how many, and where the first was (1-based; 0 when none). */
export interface Malformed {
  count: number;
  first: number;
  /**
   * Set when a model's line was among them, damaged (a file cut short inside it): what was left out, as a clause to
   * add to the warning (`left out the byte model, whose line 105001 is damaged (…): scoring without it`).
   */
  droppedModel?: string;
  /**
   * Set when a TAB file whose model line is second lacks its `#end` line, or names another number of lines there
   * than it holds: the file was cut at a line break (or lines were added); a clause for the warning, as above.
   */
  cutShort?: string;
}

/** What a reader noticed besides the tokens: the lines (or entries) it passed over, and how it read the text. */
export interface ReadReport extends Malformed {
  /**
   * The encoding the file was read in (as TextDecoder names it), set only when it was not UTF-8: `windows-1252`
   * for a file from Windows that is not valid UTF-8, `utf-16le` or `utf-16be` for one with that byte order mark,
   * or for XML whatever its declaration names.
   */
  encoding?: string;
}

const WINDOWS_1252 = new TextDecoder('windows-1252');

/** The UTF-16 encoding a byte order mark at the start of `bytes` names, if it has one. */
export function utf16Mark(bytes: Uint8Array): 'utf-16le' | 'utf-16be' | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  return undefined;
}

/** Whether `bytes` start with UTF-8's byte order mark. */
export function hasUtf8Mark(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/**
 * `bytes` as text: UTF-8 when they are valid UTF-8, else Windows-1252, what MailEnable writes on a Western Windows.
 * Guessing is safe this way round: text in Windows-1252 with any letter beyond ASCII is almost never valid UTF-8,
 * and read as UTF-8 each such letter would become U+FFFD, merging tokens that differ (`café`, `cafè`).
 */
export function decodeUtf8OrWindows1252(bytes: Uint8Array): { text: string; encoding: string } {
  if (isUtf8(bytes)) return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), encoding: 'utf-8' };
  return { text: WINDOWS_1252.decode(bytes), encoding: 'windows-1252' };
}

/**
 * A TAB file's bytes as UTF-8, without a byte order mark, and the encoding they were in. A UTF-8 file (nearly
 * every one) is used as it is; any other is decoded and encoded again, which costs a copy but leaves one reader.
 */
function asUtf8(buf: Buffer): { utf8: Buffer; encoding: string } {
  const utf16 = utf16Mark(buf);
  if (utf16) return { utf8: Buffer.from(new TextDecoder(utf16).decode(buf), 'utf8'), encoding: utf16 };
  // A UTF-8 byte order mark says what the file is, valid or not.
  if (hasUtf8Mark(buf)) return { utf8: buf.subarray(3), encoding: 'utf-8' };
  if (isUtf8(buf)) return { utf8: buf, encoding: 'utf-8' };
  return { utf8: Buffer.from(WINDOWS_1252.decode(buf), 'utf8'), encoding: 'windows-1252' };
}

/** Where a line's first three tabs are, and how many it has. */
interface Line {
  from: number;
  end: number;
  tabs: number;
  t1: number;
  t2: number;
  t3: number;
}

/** The first line's message counts into `d`, or an error naming the line: nothing else can be read without them. */
function readMessageCounts(d: Dictionary, bytes: Uint8Array, buf: Buffer, l: Line, lineNo: number): void {
  const nspam = l.tabs === 1 ? countField(bytes, l.from, l.t1) : -1;
  const nham = l.tabs === 1 ? countField(bytes, l.t1 + 1, l.end) : -1;
  if (nspam < 0 || nham < 0) {
    const shown = JSON.stringify(buf.toString('utf8', l.from, Math.min(l.end, l.from + 60)));
    throw new Error(`not a TAB dictionary: line ${lineNo}, the first, must hold the spam and ham message counts, `
      + `two whole numbers up to ${MAX_COUNT} with a tab between them, not ${shown}`);
  }
  d.nspam = nspam;
  d.nham = nham;
}

/**
 * Adds a token line's counts (and weight, when it has a fourth field) to `d`; false, with nothing added, when the
 * line is malformed: an empty token, a count that is not digits or is too large, a fourth field that is no weight,
 * or other than three or four fields. Tabs are fields' ends, never part of a token (`writeToken` makes them `_`).
 */
function readTokenLine(d: Dictionary, bytes: Uint8Array, buf: Buffer, l: Line): boolean {
  if ((l.tabs !== 2 && l.tabs !== 3) || l.t1 === l.from) return false;
  let weight = 0;
  let hamEnd = l.end;
  if (l.tabs === 3) {
    weight = weightField(bytes, buf, l.t3 + 1, l.end);
    if (!Number.isFinite(weight)) return false;
    hamEnd = l.t3;
  }
  const spam = countField(bytes, l.t1 + 1, l.t2);
  const ham = countField(bytes, l.t2 + 1, hamEnd);
  if (spam < 0 || ham < 0) return false;
  if (isPlainAscii(bytes, l.from, l.t1)) d.addAscii(bytes, l.from, l.t1, spam, ham, weight);
  // A token with whitespace is an older file's: read as the token the tokenizer now emits, its counts added to
  // that token's when the file lists both.
  else d.addListed(olderFileToken(buf.toString('utf8', l.from, l.t1)), spam, ham, weight);
  return true;
}

/**
 * Reads a TAB file. A line that does not hold a token and its counts as the format says (see the top of this file)
 * is skipped and counted in `report` (a foreign dictionary with a few bad lines is still worth most of its tokens),
 * and so is a line starting with `#` that this reader does not know; a token listed twice has its counts added
 * (Dictionary.addListed says what becomes of its weight). The first line must hold the message counts: an error if
 * not. A damaged byte model's line (a file cut short inside it) is passed over and counted too, the model left out,
 * and `report.droppedModel` says so; without a `report` to say it in, it is an error, since a caller that hears
 * nothing would score every message differently unawares and could write the file back without its model. A file
 * whose model line is second and whose `#end` line is missing or wrong counts one malformed line more, and
 * `report.cutShort` says why.
 */
export function fromTab(data: Buffer | string, report?: ReadReport): Dictionary {
  const { utf8: buf, encoding } = asUtf8(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  if (report && encoding !== 'utf-8') report.encoding = encoding;
  // Bytes are read through a plain Uint8Array: indexing a Buffer (a subclass) in this loop measured slower.
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const d = new Dictionary();
  const len = bytes.length;
  let lines = 0;
  for (let k = 0; k < len; k++) if (bytes[k] === LF) lines++;
  d.reserve(lines + 1);
  let first = true;
  let lineNo = 0;
  let badLines = 0;
  let firstBad = 0;
  // Whether a model's line was met: lines after it are our writer's, each ended by a line break.
  let modelLine = false;
  // Whether it was met before any token (second): such a file ends with `#end`, and what that line says.
  let modelSecond = false;
  let tokenLines = 0;
  let endSays = -1;
  let endLine = 0;
  let cutInLine = false;
  const l: Line = { from: 0, end: 0, tabs: 0, t1: -1, t2: -1, t3: -1 };
  // One scan per line finds its end and its first three tabs (Buffer.indexOf is a native call per line, which
  // measured as slow as the rest of the reading together).
  for (let pos = 0; pos < len;) {
    let tabs = 0;
    let t1 = -1;
    let t2 = -1;
    let t3 = -1;
    let nl = pos;
    for (; nl < len; nl++) {
      const c = bytes[nl];
      if (c === LF) break;
      if (c === TAB) {
        tabs++;
        if (t1 < 0) t1 = nl;
        else if (t2 < 0) t2 = nl;
        else if (t3 < 0) t3 = nl;
      }
    }
    l.from = pos;
    l.end = nl > pos && bytes[nl - 1] === CR ? nl - 1 : nl;
    l.tabs = tabs;
    l.t1 = t1;
    l.t2 = t2;
    l.t3 = t3;
    lineNo++;
    pos = nl + 1;
    if (l.end === l.from) continue;
    if (first) {
      readMessageCounts(d, bytes, buf, l, lineNo);
      first = false;
    } else if (bytes[l.from] === HASH && buf.subarray(l.from, l.from + BYTE_GRAMS_MARK.length).equals(BYTE_GRAMS_MARK)) {
      if (!modelLine && tokenLines === 0) modelSecond = true;
      modelLine = true;
      const dropped = readModelLine(d, buf, l, lineNo, report);
      if (dropped && !badLines++) firstBad = lineNo;
    } else if (endLine === 0 && nl < len && buf.subarray(l.from, l.from + END_MARK.length).equals(END_MARK)) {
      endLine = lineNo;
      endSays = countField(bytes, l.from + END_MARK.length, l.end);
    } else {
      if (endLine === 0) tokenLines++;
      // Nothing stands after `#end`: a line there was added to the file, not written with it.
      const cut = modelLine && nl === len;
      if (cut) cutInLine = true;
      if (cut || endLine > 0 || bytes[l.from] === HASH || !readTokenLine(d, bytes, buf, l)) {
        if (!badLines++) firstBad = lineNo;
      }
    }
  }
  if (first) throw new Error('not a TAB dictionary: the file is empty');
  // A cut through a line was counted there; one at a line break shows only as a missing or wrong `#end`.
  if (modelSecond && !cutInLine && (endLine === 0 || endSays !== tokenLines)) {
    if (!badLines++) firstBad = endLine || lineNo + 1;
    if (report) {
      report.cutShort = endLine === 0
        ? `it ends without its #end line: cut short at a line break after line ${lineNo}`
        : `its #end line says ${endSays < 0 ? 'no number' : endSays} token lines, and it holds ${tokenLines}`;
    }
  }
  if (report && badLines) {
    if (!report.count) report.first = firstBad;
    report.count += badLines;
  }
  return d;
}

// MailEnable's TAB dictionary format, our own on-disk format too, written and read as bytes:
// a first line `<spam messages>\t<ham messages>`, then one `token\t<spam>\t<ham>` line per token, in UTF-8.
// Our own files add a fourth field to a token with a weight in the linear model (engine/linear.ts), a decimal
// number that always holds a point: `token\t<spam>\t<ham>\t<weight>`. A last line may hold the byte model
// (engine/byte-grams.ts): `#byte-grams\t4\t<prefix bytes>\t<bucket bits>\t<messages>\t<state>`, the state being
// its 32-bit floats, little-endian, in base64; a reader that does not know the line skips it, as its fields are
// no counts. An export for MailEnable leaves out both.
//
// Why bytes and not a string of lines: a running gateway rewrites its dictionary file whenever it saves what it
// learned, and a string per token (and per line) made that the slowest thing it did. A file of 1.4 million tokens
// took 2–3 s to write and 1.8 s to read, all of it on the event loop. Here tokens go from the dictionary's own
// array of UTF-16 units straight into the file's bytes, in token order with counts from two dense arrays. ASCII
// tokens (nearly all) are read back without a string: they are hashed and stored from the file's bytes.
import { Dictionary, WEIGHT_SCALE } from './dictionary.ts';
import { ByteGramModel } from './byte-grams.ts';

const TAB = 9;
const LF = 10;
const CR = 13;
const UNDERSCORE = 95;

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

/** The dictionary as a TAB file: tokens in the order first learned, those with no counts left out. */
export function toTab(d: Dictionary, withModels = true): Buffer {
  const { units, ends, count } = d.textView();
  const { spam, ham } = d.countsByIds();
  const weights = withModels && d.hasWeights ? d.weightsByIds() : undefined;
  const w = new ByteWriter(units.length + count * 12 + 32);
  w.count(d.nspam);
  w.byte(TAB);
  w.count(d.nham);
  w.byte(LF);
  for (let t = 0; t < count; t++) {
    if (spam[t] === 0 && ham[t] === 0) continue;
    writeToken(w, units, t === 0 ? 0 : ends[t - 1], ends[t]);
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
  if (withModels && d.byteGrams) writeByteGrams(w, d.byteGrams);
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

/** The byte model from its line's fields (after the mark), or an error saying what is wrong with it. */
function readByteGrams(line: string): ByteGramModel {
  const f = line.split('\t');
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

/**
 * A count field: plain digits are read in place; anything else as `Number` reads it, except that an empty field is
 * NaN, not 0 (a line that lost a count is malformed, not a token never seen).
 */
function countField(bytes: Uint8Array, buf: Buffer, from: number, to: number): number {
  if (to > from && to - from <= 15) {
    let n = 0;
    let k = from;
    for (; k < to; k++) {
      const c = bytes[k] - 48;
      if (c < 0 || c > 9) break;
      n = n * 10 + c;
    }
    if (k === to) return n;
  }
  const text = buf.toString('utf8', from, to);
  return text.trim() === '' ? NaN : Number(text);
}

function isAscii(bytes: Uint8Array, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (bytes[k] >= 0x80) return false;
  return true;
}

/** Lines (or XML entries) a reader passed over: how many, and where the first was (1-based; 0 when none). */
export interface Malformed {
  count: number;
  first: number;
}

/**
 * Reads a TAB file. Lines without two tabs, or whose counts are no numbers, are skipped and counted in `malformed`
 * (a foreign dictionary with a few bad lines is still worth most of its tokens); a token listed twice has its
 * counts added. A token is what comes before a line's last two tabs, or its last three when the last field is a
 * weight (a number with a decimal point).
 */
export function fromTab(data: Buffer | string, malformed?: Malformed): Dictionary {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
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
  // One scan per line finds its end and its last two tabs (Buffer.indexOf is a native call per line, which
  // measured as slow as the rest of the reading together).
  for (let pos = 0; pos < len;) {
    let t0 = -1;
    let t1 = -1;
    let t2 = -1;
    let nl = pos;
    for (; nl < len; nl++) {
      const c = bytes[nl];
      if (c === LF) break;
      if (c === TAB) { t0 = t1; t1 = t2; t2 = nl; }
    }
    const end = nl > pos && bytes[nl - 1] === CR ? nl - 1 : nl;
    lineNo++;
    if (end > pos) {
      if (!first && bytes[pos] === 35 && buf.subarray(pos, pos + BYTE_GRAMS_MARK.length).equals(BYTE_GRAMS_MARK)) {
        d.byteGrams = readByteGrams(buf.toString('latin1', pos + BYTE_GRAMS_MARK.length, end));
      } else if (first) {
        const parts = buf.toString('utf8', pos, end).split('\t');
        if (parts.length < 2 || !/^\d+$/.test(parts[0].trim()) || !/^\d+$/.test(parts[1].trim())) {
          throw new Error('not a TAB dictionary: the first line must hold the spam and ham message counts');
        }
        d.nspam = Number(parts[0]);
        d.nham = Number(parts[1]);
        first = false;
      } else if (t1 >= pos && t2 < end) {
        let weight = 0;
        let fieldEnd = end;
        if (t0 >= pos) {
          weight = weightField(bytes, buf, t2 + 1, end);
          if (Number.isFinite(weight)) {
            fieldEnd = t2;
            t2 = t1;
            t1 = t0;
          } else weight = 0;
        }
        const spam = countField(bytes, buf, t1 + 1, t2);
        const ham = countField(bytes, buf, t2 + 1, fieldEnd);
        if (Number.isFinite(spam) && Number.isFinite(ham)) {
          if (isAscii(bytes, pos, t1)) d.addAscii(bytes, pos, t1, spam, ham, weight);
          else d.add(buf.toString('utf8', pos, t1), spam, ham, weight);
        } else if (!badLines++) firstBad = lineNo;
      } else if (!badLines++) firstBad = lineNo;
    }
    pos = nl + 1;
  }
  if (first) throw new Error('not a TAB dictionary: the file is empty');
  if (malformed && badLines) {
    if (!malformed.count) malformed.first = firstBad;
    malformed.count += badLines;
  }
  return d;
}

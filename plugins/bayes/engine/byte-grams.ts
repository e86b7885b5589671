// A second linear model, over the message's bytes instead of its tokens: logistic regression on the distinct
// 4-byte sequences of its first 1,000 bytes (headers another filter added left out), hashed into 2^18 buckets.
// Fitted in a fourth training pass; scoring adds its term to the logit like the token model's (classify.ts,
// `byteGramWeight`).
//
// Why bytes: the tokenizer decides what a word is, and spam that breaks words up ("p - rofile", "ra [ t ] es"),
// hides them in markup or encodings, or has a telling layout of headers, slips between its tokens. Byte
// sequences see all of it without deciding anything (the features of the best filters of the TREC spam tracks).
// In cross-validation inside the eval's training part (8 fold seeds), 1-ROCA fell by a fifth and spam caught at
// <= 0.25% ham rose from 97.64% to 98.15% (plugins/bayes/MEASUREMENTS.md).
//
// Each bucket's step is an adaptive gradient method's (rate / √(sum of its squared gradients)); the sums are
// kept with the weights, so a merge goes on from a file's model as if it had never stopped.
import { ignored } from './tokenizer.ts';
import { shuffledOrder } from './linear.ts';
import { fmix } from './token-hash.ts';
import { clientMessage } from './client-message.ts';

/**
 * Bytes of a message read, headers another filter added left out: the first 750, 1,000, 1,500, 2,000 and 3,000
 * bytes measured alike (most of what tells is in the headers and the first lines), and time grows with them.
 */
export const PREFIX_BYTES = 1000;
/** log2 of the buckets: 2^17 to 2^22 measured alike; 2^18 leaves room for larger training sets in 2 MB of state. */
export const BUCKET_BITS = 18;
const GRAM = 4;

export interface ByteGramOptions {
  /** Step size of the adaptive gradient method. */
  rate: number;
  /** A ham's error counts this many times a spam's. */
  hamWeight: number;
}

// Chosen by cross-validation inside the eval's training part: rates of 0.5 and 2, two sweeps, 3- and 5-byte
// sequences, a ham's error weighed 2 or 3 times, and the decoded text in place of the bytes all measured the
// same or worse.
export const DEFAULT_BYTE_GRAMS: ByteGramOptions = { rate: 1, hamWeight: 1 };

/**
 * Scratch shared by every call (all synchronous): a bit per bucket to count each once, and the list of buckets.
 * Bits, not a stamp per bucket: 32 KB for 2^18 buckets stays in the fastest cache, where a megabyte of stamps
 * missed it on most bytes; the bits a message set are cleared from its list.
 */
let seen = new Int32Array(0);
let buckets = new Int32Array(PREFIX_BYTES);

/** The distinct buckets of `bytes`' 4-byte sequences, into `buckets`; returns how many. */
function bucketsOf(bytes: Uint8Array, from: number, to: number, bits: number): number {
  if (seen.length !== 1 << (bits - 5)) seen = new Int32Array(1 << (bits - 5));
  if (to - from > buckets.length) buckets = new Int32Array(to - from);
  const shift = 32 - bits;
  let n = 0;
  let gram = 0;
  for (let k = from; k < to; k++) {
    gram = (gram << 8) | bytes[k];
    if (k - from < GRAM - 1) continue;
    // Every bit of the 4 bytes moves every bit of the bucket.
    const b = fmix(gram) >>> shift;
    const bit = 1 << (b & 31);
    const word = seen[b >>> 5];
    if (word & bit) continue;
    seen[b >>> 5] = word | bit;
    buckets[n++] = b;
  }
  for (let t = 0; t < n; t++) seen[buckets[t] >>> 5] = 0;
  return n;
}

/**
 * The first `max` bytes of a message with the header fields named in `ignore` (lower case, a trailing `*` for a
 * prefix) left out, as the tokenizer leaves them out: what an earlier filter thought is not what the message is.
 * Line ends are read as LF: mail arrives over SMTP with CRLF and is trained from folders (Maildir, mbox) with LF,
 * and the same message must give the same sequences either way. Read, as the tokenizer reads it, from where the
 * client's message starts (engine/client-message.ts): a relayed copy's first bytes are the servers' trace, not the sender's.
 */
export function messagePrefix(raw: Buffer | string, ignore: string[], max = PREFIX_BYTES): Uint8Array {
  const bytes = clientMessage(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
  const starts = ignoredStarts(ignore);
  const out = new Uint8Array(Math.min(max, bytes.length));
  const len = bytes.length;
  let at = 0;
  let pos = 0;
  let skipping = false;
  while (pos < len && at < out.length) {
    const c = bytes[pos];
    if (c === 10 || (c === 13 && bytes[pos + 1] === 10)) {
      // The body, from the blank line on.
      while (pos < len && at < out.length) {
        const b = bytes[pos++];
        if (b !== 13 || bytes[pos] !== 10) out[at++] = b;
      }
      break;
    }
    // A folded line goes with its field; a field's name is read only when its first byte could start an ignored one.
    if (c !== 32 && c !== 9) skipping = starts[c] === 1 && fieldIgnored(bytes, pos, ignore);
    if (skipping) {
      while (pos < len && bytes[pos++] !== 10);
    } else {
      while (pos < len && at < out.length) {
        const b = bytes[pos++];
        if (b === 13 && bytes[pos] === 10) continue;
        out[at++] = b;
        if (b === 10) break;
      }
    }
  }
  return at === out.length ? out : out.subarray(0, at);
}

/** Whether the field on the line at `pos` is one of `ignore`. */
function fieldIgnored(bytes: Buffer, pos: number, ignore: string[]): boolean {
  let colon = pos;
  // Searched within the line only: lines without a colon must not each scan on to the next one.
  while (colon < bytes.length && bytes[colon] !== 58 && bytes[colon] !== 10) colon++;
  if (colon === pos || bytes[colon] !== 58) return false;
  return ignored(bytes.toString('latin1', pos, colon).trim().toLowerCase(), ignore);
}

const startsOf = new WeakMap<string[], Uint8Array>();

/**
 * 1 for each byte a line may start with and be an ignored field: a pattern's first letter in either case, any
 * byte for a pattern that starts with `*`, and the bytes `trim` takes off. A byte marked here is only a maybe.
 */
function ignoredStarts(ignore: string[]): Uint8Array {
  let starts = startsOf.get(ignore);
  if (starts) return starts;
  starts = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    const ch = String.fromCharCode(c);
    const lower = ch.toLowerCase();
    starts[c] = ch.trim() === '' || ignore.some((p) => p === '' || p[0] === '*' || p[0] === lower) ? 1 : 0;
  }
  startsOf.set(ignore, starts);
  return starts;
}

/** The fitted model: a weight and the sum of squared gradients per bucket, side by side (one cache line for both). */
export class ByteGramModel {
  readonly bits: number;
  readonly prefixBytes: number;
  /** Bucket b's weight at 2·b, its summed squared gradients at 2·b + 1. */
  readonly state: Float32Array<ArrayBuffer>;
  /** Messages it was fitted on, over every pass that built it. */
  readonly messages: number;

  constructor(state?: Float32Array<ArrayBuffer>, messages = 0, bits = BUCKET_BITS, prefixBytes = PREFIX_BYTES) {
    if (bits < 8 || bits > 24 || !Number.isInteger(bits)) throw new Error(`byte-gram buckets: 2^${bits} is out of range`);
    if (!(prefixBytes > 0 && prefixBytes <= 1 << 20)) throw new Error(`byte-gram prefix: ${prefixBytes} bytes is out of range`);
    this.bits = bits;
    this.prefixBytes = prefixBytes;
    this.state = state ?? new Float32Array(2 << bits);
    if (this.state.length !== 2 << bits) throw new Error(`byte-gram state: ${this.state.length} values for 2^${bits} buckets`);
    this.messages = messages;
  }

  /**
   * This model plus what fitting changed from `start` to `fitted` (Dictionary.merge): bucket by bucket, and exactly
   * `fitted` where this model is still `start`. A model of another shape cannot be combined, so `fitted` wins.
   */
  withChange(fitted: ByteGramModel, start: ByteGramModel): ByteGramModel {
    if (fitted.bits !== this.bits || start.bits !== this.bits || fitted.prefixBytes !== this.prefixBytes || start.prefixBytes !== this.prefixBytes) return fitted;
    const s = new Float32Array(this.state.length);
    for (let i = 0; i < s.length; i++) s[i] = withChange(this.state[i], fitted.state[i], start.state[i]);
    return new ByteGramModel(s, this.messages + fitted.messages - start.messages, this.bits, this.prefixBytes);
  }

  /** The model's term for a message's prefix (`messagePrefix`): its buckets' weights summed, over √(buckets + 1). */
  term(prefix: Uint8Array): number {
    const n = bucketsOf(prefix, 0, prefix.length, this.bits);
    const s = this.state;
    let z = 0;
    for (let t = 0; t < n; t++) z += s[2 * buckets[t]];
    return z / Math.sqrt(n + 1);
  }
}

/** Prefixes of the messages learned, end to end, with their classes: what the sweep goes over after learning. */
export class ByteSamples {
  private bytes = new Uint8Array(1 << 20);
  private ends = new Int32Array(1024);
  private spam = new Uint8Array(1024);
  private used = 0;
  size = 0;
  private readonly ignore: string[];
  private readonly prefixBytes: number;

  constructor(ignore: string[], prefixBytes = PREFIX_BYTES) {
    this.ignore = ignore;
    this.prefixBytes = prefixBytes;
  }

  add(raw: Buffer | string, isSpam: boolean): void {
    const p = messagePrefix(raw, this.ignore, this.prefixBytes);
    if (this.used + p.length > this.bytes.length) {
      const next = new Uint8Array(Math.max(2 * this.bytes.length, this.used + p.length));
      next.set(this.bytes.subarray(0, this.used));
      this.bytes = next;
    }
    if (this.size === this.ends.length) {
      const ends = new Int32Array(2 * this.size);
      ends.set(this.ends);
      this.ends = ends;
      const spam = new Uint8Array(2 * this.size);
      spam.set(this.spam);
      this.spam = spam;
    }
    this.bytes.set(p, this.used);
    this.used += p.length;
    this.ends[this.size] = this.used;
    this.spam[this.size++] = isSpam ? 1 : 0;
  }

  /** Fits a model on every message added, in one sweep in a fixed shuffled order, going on from `start` when given. */
  fit(options: Partial<ByteGramOptions> = {}, start?: ByteGramModel): ByteGramModel {
    const { rate, hamWeight } = { ...DEFAULT_BYTE_GRAMS, ...options };
    const bits = start?.bits ?? BUCKET_BITS;
    const s = start ? Float32Array.from(start.state) : new Float32Array(2 << bits);
    for (const m of shuffledOrder(this.size)) {
      const n = bucketsOf(this.bytes, m === 0 ? 0 : this.ends[m - 1], this.ends[m], bits);
      const scale = 1 / Math.sqrt(n + 1);
      let z = 0;
      for (let t = 0; t < n; t++) z += s[2 * buckets[t]];
      z *= scale;
      // The log-loss's gradient for each bucket the message holds.
      const g = (this.spam[m] - 1 / (1 + Math.exp(-z))) * scale * (this.spam[m] ? 1 : hamWeight);
      if (g === 0) continue;
      for (let t = 0; t < n; t++) {
        const k = 2 * buckets[t];
        s[k + 1] += g * g;
        // The small constant keeps a gradient too small to square in 32 bits from dividing by 0.
        s[k] += (rate * g) / Math.sqrt(s[k + 1] + 1e-6);
      }
    }
    return new ByteGramModel(s, (start?.messages ?? 0) + this.size, bits, this.prefixBytes);
  }
}

/** `now`, plus what fitting changed from `start` to `fitted`; `fitted` itself when `now` is still `start`. */
export function withChange(now: number, fitted: number, start: number): number {
  return now === start ? fitted : now + (fitted - start);
}

// The token dictionary in memory: per token, in how many spam and ham messages it was seen.
//
// A Map of a million token strings spends most of its time on cache misses (bucket, entry, key string);
// here each token is hashed twice (64 bits together) into an open-addressing table of integers whose slots
// hold both hashes, both counts and the token's number side by side, so a lookup touches one cache line or two.
// Learning takes a message as a bag of hashes (hashed-bag.ts), so it builds the string only of a token new to
// the dictionary, and probes the big table once per distinct token: all of a message's first, in loops that
// leave the misses of many probes under way at once, then the counts.
// Two tokens with the same 64-bit hash would share counts; with a few million tokens that chance is ~1e-7.

import { fmix, hashA, hashB, hashAscii } from './token-hash.ts';
import { ByteGramModel, withChange } from './byte-grams.ts';
import type { HashedBag } from './hashed-bag.ts';
import type { LearnedTokens } from './learned-tokens.ts';
import { TokenText, type TokenTextState } from './token-text.ts';

export interface TokenStat {
  token: string;
  spam: number;
  ham: number;
  /** The token's weight in the linear model (engine/linear.ts); 0 when it has none. */
  weight: number;
}

/** A dictionary's arrays and totals, as `toState` hands them to another thread (`stateBuffers` lists what to transfer). */
export interface DictionaryState {
  nspam: number;
  nham: number;
  mask: number;
  slots: Uint32Array<ArrayBuffer>;
  text: TokenTextState;
  /** The linear model's weights by token number, when it has any. */
  weights?: Float64Array<ArrayBuffer>;
  /** The byte model, when it has one. */
  byteGrams?: { state: Float32Array<ArrayBuffer>; messages: number; bits: number; prefixBytes: number };
}

/** Every token's spam and ham counts, indexed by its number (as LearnedTokens records them). */
export interface CountsByIds {
  spam: Int32Array;
  ham: Int32Array;
}

/** Weights are kept to 6 decimals, as a TAB file writes them. */
export const WEIGHT_SCALE = 1e6;

// hash a, hash b (odd: 0 marks a free slot), spam count, ham count, 1 + the token's number in `text`
const STRIDE = 5;
const ID = 4;
/** The buffers of a state, to transfer rather than copy. */
export function stateBuffers(s: DictionaryState): ArrayBuffer[] {
  return [s.slots.buffer, s.text.chars.buffer, s.text.ends.buffer, ...(s.weights ? [s.weights.buffer] : []), ...(s.byteGrams ? [s.byteGrams.state.buffer] : [])];
}

export class Dictionary {
  /** Messages learned as spam and as ham. */
  nspam = 0;
  nham = 0;
  private mask = 1023;
  private slots = new Uint32Array(1024 * STRIDE);
  private text = new TokenText();
  /**
   * The linear model's weight of each token, by its number; empty until a weight is set. Kept apart from the
   * slots, as most dictionaries (the gateway's learned and shared layers, an imported one) never have any.
   */
  private weights: Float64Array<ArrayBuffer> = new Float64Array(0);
  /**
   * The byte model (engine/byte-grams.ts), fitted beside the counts by `create` and `merge`; never changed in
   * place (a fit makes a new one), so dictionaries may share it.
   */
  byteGrams?: ByteGramModel;
  /** The hashes being looked up (fields rather than a returned pair, so a probe allocates nothing). */
  private ha = 0;
  private hb = 0;
  private readonly pair = new Int32Array(2);
  /** Scratch for `learnBag`: the slot of each of a bag's tokens, or -1 for one not in the table. */
  private found = new Int32Array(0);
  /** What `slotsOfHashes` read ahead, kept so that the compiler cannot drop those reads as unused. */
  private readAhead = 0;

  get size(): number { return this.text.size; }

  /**
   * Its arrays, not copies, so a dictionary read on one thread moves to another without a copy or a rehash
   * (post `stateBuffers(state)` as the transfer list). This dictionary must not be used once they are transferred.
   */
  toState(): DictionaryState {
    return {
      nspam: this.nspam, nham: this.nham, mask: this.mask, slots: this.slots, text: this.text.toState(),
      ...(this.weights.length ? { weights: this.weights } : {}),
      ...(this.byteGrams ? { byteGrams: { state: this.byteGrams.state, messages: this.byteGrams.messages, bits: this.byteGrams.bits, prefixBytes: this.byteGrams.prefixBytes } } : {}),
    };
  }

  static fromState(s: DictionaryState): Dictionary {
    const d = new Dictionary();
    d.nspam = s.nspam;
    d.nham = s.nham;
    d.mask = s.mask;
    d.slots = s.slots;
    d.text = TokenText.fromState(s.text);
    if (s.weights) d.weights = s.weights;
    if (s.byteGrams) d.byteGrams = new ByteGramModel(s.byteGrams.state, s.byteGrams.messages, s.byteGrams.bits, s.byteGrams.prefixBytes);
    return d;
  }

  /** Hashes `s` into `ha`/`hb`. */
  private hash(s: string): void {
    this.ha = hashA(s);
    this.hb = hashB(s);
  }

  /** Slot of the entry whose hashes are in `ha`/`hb`, or the free slot where it would go, as `-1 - slot`. */
  private probe(): number {
    const a = this.ha >>> 0;
    const b = (this.hb | 1) >>> 0;
    const slots = this.slots;
    const mask = this.mask;
    let i = fmix(a) & mask;
    for (;;) {
      const o = i * STRIDE;
      const sb = slots[o + 1];
      if (sb === 0) return -1 - i;
      if (sb === b && slots[o] === a) return i;
      i = (i + 1) & mask;
    }
  }

  /** Slot of `token` (added, with zero counts, when new). */
  private slot(token: string): number {
    this.hash(token);
    const i = this.probe();
    if (i >= 0) return i;
    this.text.push(token);
    return this.insert(-1 - i);
  }

  /**
   * Puts the token whose hashes are in `ha`/`hb`, and whose text was just written to `text`, into free slot `i`;
   * returns its slot (which moves when the table grows).
   */
  private insert(i: number): number {
    const o = i * STRIDE;
    this.slots[o] = this.ha >>> 0;
    this.slots[o + 1] = (this.hb | 1) >>> 0;
    this.slots[o + ID] = this.text.size;
    // Keep the table at most half full so probes stay short.
    if (this.text.size * 2 > this.mask + 1) return this.grow(i);
    return i;
  }

  /** Doubles the table; returns where slot `track` went. */
  private grow(track: number): number {
    const old = this.slots;
    const size = (this.mask + 1) * 2;
    const slots = new Uint32Array(size * STRIDE);
    const mask = size - 1;
    let moved = -1;
    for (let i = 0; i <= this.mask; i++) {
      const o = i * STRIDE;
      if (old[o + 1] === 0) continue;
      let j = fmix(old[o]) & mask;
      while (slots[j * STRIDE + 1] !== 0) j = (j + 1) & mask;
      const n = j * STRIDE;
      for (let k = 0; k < STRIDE; k++) slots[n + k] = old[o + k];
      if (i === track) moved = j;
    }
    this.slots = slots;
    this.mask = mask;
    return moved;
  }

  /** Makes room for `tokens` tokens at once, so loading a file of known size never grows (rehashes) the table. */
  reserve(tokens: number): void {
    let size = this.mask + 1;
    while (tokens * 2 > size) size *= 2;
    if (size === this.mask + 1) return;
    if (this.text.size === 0) {
      this.slots = new Uint32Array(size * STRIDE);
      this.mask = size - 1;
      return;
    }
    while (this.mask + 1 < size) this.grow(-1);
  }

  /**
   * `addListed` for a token given as ASCII bytes (`from`…`to` of `bytes`): what a file of tokens is read with, without
   * a string made for each token. An ASCII byte is the UTF-16 unit `hash` and `TokenText` see for that char.
   */
  addAscii(bytes: Uint8Array, from: number, to: number, spam: number, ham: number, weight = 0): void {
    hashAscii(bytes, from, to, this.pair);
    this.ha = this.pair[0];
    this.hb = this.pair[1];
    let i = this.probe();
    if (i < 0) {
      this.text.writeAscii(bytes, from, to);
      this.text.end();
      i = this.insert(-1 - i);
    }
    this.addListedAt(i, spam, ham, weight);
  }

  /**
   * A token line of a file, its counts and weight, into the dictionary. A token listed twice (files written before
   * tokens were kept free of line breaks hold `a _b` once from LF mail and once from CRLF mail) has its counts added
   * and, as its weight, the lines' weights averaged by their messages (a line without one weighs 0): the same
   * whatever the lines' order, and what scores a message that has the token as the lines' messages did on average.
   */
  addListed(token: string, spam: number, ham: number, weight = 0): void {
    this.addListedAt(this.slot(token), spam, ham, weight);
  }

  private addListedAt(i: number, spam: number, ham: number, weight: number): void {
    const o = i * STRIDE;
    const before = this.slots[o + 2] + this.slots[o + 3];
    const had = this.weightAt(i);
    this.addAt(i, spam, ham);
    if (before === 0 && had === 0) {
      if (weight !== 0) this.setWeightAt(i, weight);
      return;
    }
    const total = before + spam + ham;
    const mean = total === 0 ? weight || had : (had * before + weight * (spam + ham)) / total;
    const kept = Math.round(mean * WEIGHT_SCALE) / WEIGHT_SCALE || 0;
    if (kept !== had) this.setWeightAt(i, kept);
  }

  /** The tokens' text, numbered as `countsByIds` numbers them (see TokenText.view). */
  textView(): ReturnType<TokenText['view']> {
    return this.text.view();
  }

  /** Adds (or with negative numbers removes) counts of one token; counts never go below zero. A `weight` other than 0 replaces its weight. */
  add(token: string, spam: number, ham: number, weight = 0): void {
    const i = this.slot(token);
    this.addAt(i, spam, ham);
    if (weight !== 0) this.setWeightAt(i, weight);
  }

  /** Whether any token has a weight in the linear model. */
  get hasWeights(): boolean { return this.weights.length > 0; }

  /** The linear model's weight of the token in `slot` (0 when it has none). */
  weightAt(slot: number): number {
    const id = this.slots[slot * STRIDE + ID] - 1;
    return id < this.weights.length ? this.weights[id] : 0;
  }

  private setWeightAt(slot: number, weight: number): void {
    const id = this.slots[slot * STRIDE + ID] - 1;
    if (id >= this.weights.length) {
      const w = new Float64Array(Math.max(id + 1, this.text.size, 2 * this.weights.length));
      w.set(this.weights);
      this.weights = w;
    }
    this.weights[id] = weight;
  }

  /**
   * Every token's weight by its number (a new array), with `also`'s weight of the same token where this one
   * has none: where a merge's linear pass starts from.
   */
  weightsByIds(also?: Dictionary): Float64Array {
    const w = new Float64Array(this.text.size);
    w.set(this.weights.subarray(0, Math.min(this.weights.length, w.length)));
    if (!also?.hasWeights) return w;
    const slots = this.slots;
    for (let i = 0; i <= this.mask; i++) {
      const o = i * STRIDE;
      const id = slots[o + ID];
      if (id === 0 || w[id - 1] !== 0) continue;
      const j = also.slotOfHash(slots[o] | 0, slots[o + 1] | 0);
      if (j >= 0) w[id - 1] = also.weightAt(j);
    }
    return w;
  }

  /**
   * Sets every token's weight, by its number (as `weightsByIds` gives them), rounded to the decimals a TAB file
   * keeps, so a dictionary scores the same before it is saved as after it is read back.
   */
  setWeightsByIds(w: Float64Array): void {
    if (w.length !== this.text.size) throw new Error(`${w.length} weights for ${this.text.size} tokens`);
    this.weights = new Float64Array(w.length);
    for (let id = 0; id < w.length; id++) this.weights[id] = Math.round(w[id] * WEIGHT_SCALE) / WEIGHT_SCALE || 0; // never -0
  }

  private addAt(slot: number, spam: number, ham: number): void {
    const o = slot * STRIDE;
    this.slots[o + 2] = countWithin(this.slots[o + 2] + spam);
    this.slots[o + 3] = countWithin(this.slots[o + 3] + ham);
  }

  /** Learns one message given its distinct tokens. */
  learn(tokens: Iterable<string>, isSpam: boolean, times = 1): void {
    const col = isSpam ? 2 : 3;
    for (const t of tokens) {
      // The slot first: finding it can grow the table, and `this.slots` read before that would be the old one.
      const i = this.slot(t);
      this.slots[i * STRIDE + col] += times;
    }
    if (isSpam) this.nspam += times; else this.nham += times;
  }

  /**
   * Adds `times` to one class's count at each of `slots` (from `slotOfHash` or `slotsOfIds`) and to that class's
   * message total: learning a message again whose tokens were already looked up.
   */
  addAtSlots(slots: Int32Array, isSpam: boolean, times: number): void {
    const col = isSpam ? 2 : 3;
    for (let i = 0; i < slots.length; i++) this.slots[slots[i] * STRIDE + col] += times;
    if (isSpam) this.nspam += times; else this.nham += times;
  }

  /**
   * Learns one message from its bag (`keepParts`): each distinct token counted once, as `learn` does with the
   * message's token set. With `record`, the message's tokens and how often each occurred are noted there too.
   */
  learnBag(bag: HashedBag, isSpam: boolean, record?: LearnedTokens): void {
    const col = isSpam ? 2 : 3;
    record?.begin(isSpam);
    const n = bag.size;
    if (this.found.length < n) this.found = new Int32Array(Math.max(n, 2 * this.found.length));
    const found = this.found;
    // Every token's slot first, then the counts, from slots that loop brought into the cache.
    const mask = this.mask;
    this.slotsOfHashes(bag.a, bag.b, n, found);
    for (let t = 0; t < n; t++) {
      let slot = found[t];
      // A new token (whose free slot an earlier new one may have taken), or any token once the table has grown.
      if (slot < 0 || this.mask !== mask) {
        this.ha = bag.a[t];
        this.hb = bag.b[t];
        slot = this.probe();
        if (slot < 0) {
          bag.writeToken(t, this.text);
          slot = this.insert(-1 - slot);
        }
      }
      this.slots[slot * STRIDE + col]++;
      record?.add(this.slots[slot * STRIDE + ID] - 1, bag.count[t]);
    }
    if (isSpam) this.nspam++; else this.nham++;
  }

  private find(token: string): number {
    this.hash(token);
    return this.probe();
  }

  /**
   * The slot of each of the first `n` tokens whose hashes are in `a` and `b`, or -1 for one not in the table, into
   * `out`. The loop changes nothing, so one probe need not wait for the one before and their cache misses overlap
   * (a lookup at a time, with work on each token in between, waits out one miss after another).
   */
  slotsOfHashes(a: Int32Array, b: Int32Array, n: number, out: Int32Array): void {
    const slots = this.slots;
    const mask = this.mask;
    // Each token's first slot, then a read of each in a loop too small to wait on any of them, so up to as many
    // misses as the core can track are under way at once; the probes then find those lines in the cache.
    for (let t = 0; t < n; t++) out[t] = fmix(a[t] >>> 0) & mask;
    let ahead = 0;
    for (let t = 0; t < n; t++) ahead |= slots[out[t] * STRIDE + 1];
    this.readAhead = ahead;
    // The probe written out, as in `probe`, with the hashes in locals: calling `probe` here, through the fields,
    // scored about 3% slower in alternating runs.
    for (let t = 0; t < n; t++) {
      const ha = a[t] >>> 0;
      const hb = (b[t] | 1) >>> 0;
      let i = out[t];
      for (;;) {
        const sb = slots[i * STRIDE + 1];
        if (sb === 0) { i = -1; break; }
        if (sb === hb && slots[i * STRIDE] === ha) break;
        i = (i + 1) & mask;
      }
      out[t] = i;
    }
  }

  /** Slot of the token with hashes `a` and `b` (from token-hash.ts), or a negative number when it is unknown. */
  slotOfHash(a: number, b: number): number {
    this.ha = a;
    this.hb = b;
    return this.probe();
  }

  /** Where each token (numbered in the order first learned, as LearnedTokens records them) sits in the table now. */
  slotsOfIds(): Int32Array {
    const slotOf = new Int32Array(this.text.size);
    for (let i = 0; i <= this.mask; i++) {
      const id = this.slots[i * STRIDE + ID];
      if (id) slotOf[id - 1] = i;
    }
    return slotOf;
  }

  /**
   * Every token's counts by its number (as LearnedTokens records them), read in one sweep of the table, with
   * `also`'s counts of the same tokens added. Two dense arrays stay in cache where the table does not.
   */
  countsByIds(also?: Dictionary): CountsByIds {
    const spam = new Int32Array(this.text.size);
    const ham = new Int32Array(this.text.size);
    const slots = this.slots;
    for (let i = 0; i <= this.mask; i++) {
      const o = i * STRIDE;
      const id = slots[o + ID];
      if (id === 0) continue;
      spam[id - 1] = slots[o + 2];
      ham[id - 1] = slots[o + 3];
      if (!also) continue;
      const j = also.slotOfHash(slots[o] | 0, slots[o + 1] | 0);
      if (j >= 0) { spam[id - 1] += also.spamAt(j); ham[id - 1] += also.hamAt(j); }
    }
    return { spam, ham };
  }

  spamAt(slot: number): number { return this.slots[slot * STRIDE + 2]; }
  hamAt(slot: number): number { return this.slots[slot * STRIDE + 3]; }

  spamOf(token: string): number { const i = this.find(token); return i < 0 ? 0 : this.slots[i * STRIDE + 2]; }
  hamOf(token: string): number { const i = this.find(token); return i < 0 ? 0 : this.slots[i * STRIDE + 3]; }

  /** The token's weight in the linear model (0 when it is unknown or has none). */
  weightOf(token: string): number {
    if (!this.hasWeights) return 0;
    const i = this.find(token);
    return i < 0 ? 0 : this.weightAt(i);
  }

  /** Calls `fn(spam, ham)` for a token; returns false when it is unknown. */
  lookup(token: string, fn: (spam: number, ham: number) => void): boolean {
    const i = this.find(token);
    if (i < 0) return false;
    fn(this.slots[i * STRIDE + 2], this.slots[i * STRIDE + 3]);
    return true;
  }

  /** Tokens in the order they were first learned. */
  *entries(): IterableIterator<TokenStat> {
    const slotOf = this.slotsOfIds();
    for (let t = 0; t < this.text.size; t++) {
      const o = slotOf[t] * STRIDE;
      const spam = this.slots[o + 2];
      const ham = this.slots[o + 3];
      if (spam || ham) yield { token: this.text.get(t), spam, ham, weight: t < this.weights.length ? this.weights[t] : 0 };
    }
  }

  /**
   * Adds every count of another dictionary (message totals included). A token's weight there, when it has one,
   * replaces this one's, and so does its byte model: the other holds what a merge's linear passes learned,
   * starting from this one's. With `start`, the dictionary those passes started from, only what they changed is
   * applied: when this one has changed since `start` was read (another merge came first), both changes are kept.
   */
  merge(other: Dictionary, start?: Dictionary): void {
    for (const e of other.entries()) {
      const i = this.slot(e.token);
      this.addAt(i, e.spam, e.ham);
      if (e.weight === 0) continue;
      this.setWeightAt(i, start ? withChange(this.weightAt(i), e.weight, start.weightOf(e.token)) : e.weight);
    }
    if (other.byteGrams) this.byteGrams = start?.byteGrams && this.byteGrams ? this.byteGrams.withChange(other.byteGrams, start.byteGrams) : other.byteGrams;
    this.nspam = countWithin(this.nspam + other.nspam);
    this.nham = countWithin(this.nham + other.nham);
  }

  clone(): Dictionary {
    const d = new Dictionary();
    d.merge(this);
    return d;
  }

  /** Keeps only the tokens `keep` accepts; returns how many went. */
  filter(keep: (e: TokenStat) => boolean): number {
    const kept = new Dictionary();
    let dropped = 0;
    for (const e of this.entries()) {
      if (keep(e)) kept.add(e.token, e.spam, e.ham, e.weight); else dropped++;
    }
    this.mask = kept.mask;
    this.slots = kept.slots;
    this.text = kept.text;
    this.weights = kept.weights;
    return dropped;
  }
}

/**
 * The largest count a dictionary holds. Counts are kept in 32-bit slots but handed out as an Int32Array
 * (`countsByIds`, which the TAB writer reads), so a larger count would be written back negative.
 */
export const MAX_COUNT = 2 ** 31 - 1;

/**
 * A count held within MAX_COUNT: merging two large imported
 * dictionaries must not write a count that no reader would take back.
 */
function countWithin(n: number): number {
  return Math.min(MAX_COUNT, Math.max(0, n));
}

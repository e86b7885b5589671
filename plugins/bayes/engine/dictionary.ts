// The token dictionary in memory: per token, in how many spam and ham messages it was seen.
//
// A Map of a million token strings spends most of its time on cache misses (bucket, entry, key string);
// here each token is hashed twice (64 bits together) into an open-addressing table of integers whose slots
// hold both hashes, both counts and the learning stamp side by side, so a lookup touches one cache line or two.
// The hashes are polynomial (h·B + c), so the hash of `a~b` follows from the hashes of `a` and `b`: learning
// hashes each body word once and never builds the strings of word pairs it already knows.
// Two tokens with the same 64-bit hash would share counts; with a few million tokens that chance is ~1e-7.

import { WordHasher, hashA, hashB } from './token-hash.ts';

export interface TokenStat { token: string; spam: number; ham: number }

const STRIDE = 5; // hash a, hash b (odd: 0 marks a free slot), spam count, ham count, stamp
/** Murmur3's finaliser: spreads every bit of the polynomial hash (whose low bits see only the chars' low bits) over the slot index. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Copies a token that may be a slice (or a join of slices) of a whole message, so the dictionary does not
 * keep that message alive: V8 flattens the joined string into new memory before slicing it.
 */
function own(s: string): string {
  return s.length >= 13 ? (' ' + s).slice(1) : s;
}

export class Dictionary {
  /** Messages learned as spam and as ham. */
  nspam = 0;
  nham = 0;
  private mask = 1023;
  private slots = new Uint32Array(1024 * STRIDE);
  /** Per slot, 1 + the index of its token in `tokens` (0: free). */
  private tokenAt = new Int32Array(1024);
  private tokens: string[] = [];
  private epoch = 0;
  private col = 2;
  private distinct = 0;
  private maxDistinct = 0;
  private ha = 0;
  private hb = 0;
  private readonly words = new WordHasher();

  get size(): number { return this.tokens.length; }

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
    return i >= 0 ? i : this.insert(token, -1 - i);
  }

  /** Puts a token whose hashes are in `ha`/`hb` into free slot `i`; returns its slot (which moves when the table grows). */
  private insert(token: string, i: number): number {
    const o = i * STRIDE;
    this.slots[o] = this.ha >>> 0;
    this.slots[o + 1] = (this.hb | 1) >>> 0;
    this.tokens.push(own(token));
    this.tokenAt[i] = this.tokens.length;
    // Keep the table at most half full so probes stay short.
    if (this.tokens.length * 2 > this.mask + 1) return this.grow(i);
    return i;
  }

  /** Doubles the table; returns where slot `track` went. */
  private grow(track: number): number {
    const old = this.slots;
    const oldTok = this.tokenAt;
    const size = (this.mask + 1) * 2;
    const slots = new Uint32Array(size * STRIDE);
    const tokenAt = new Int32Array(size);
    const mask = size - 1;
    let moved = -1;
    for (let i = 0; i < oldTok.length; i++) {
      if (oldTok[i] === 0) continue;
      const o = i * STRIDE;
      let j = fmix(old[o]) & mask;
      while (tokenAt[j] !== 0) j = (j + 1) & mask;
      const n = j * STRIDE;
      for (let k = 0; k < STRIDE; k++) slots[n + k] = old[o + k];
      tokenAt[j] = oldTok[i];
      if (i === track) moved = j;
    }
    this.slots = slots;
    this.tokenAt = tokenAt;
    this.mask = mask;
    return moved;
  }

  /** Adds (or with negative numbers removes) counts of one token; counts never go below zero. */
  add(token: string, spam: number, ham: number): void {
    const o = this.slot(token) * STRIDE;
    this.slots[o + 2] = Math.max(0, this.slots[o + 2] + spam);
    this.slots[o + 3] = Math.max(0, this.slots[o + 3] + ham);
  }

  /** Learns one message given its distinct tokens. */
  learn(tokens: Iterable<string>, isSpam: boolean, times = 1): void {
    const col = isSpam ? 2 : 3;
    for (const t of tokens) this.slots[this.slot(t) * STRIDE + col] += times;
    if (isSpam) this.nspam += times; else this.nham += times;
  }

  /**
   * Adds `times` (negative to take away) to one class's count at each of `slots` (from `slotOfHash`) and to that
   * class's message total: learning, or unlearning, a message whose tokens were already looked up.
   */
  addAtSlots(slots: Int32Array, isSpam: boolean, times: number): void {
    const col = isSpam ? 2 : 3;
    for (let i = 0; i < slots.length; i++) this.slots[slots[i] * STRIDE + col] += times;
    if (isSpam) this.nspam += times; else this.nham += times;
  }

  /**
   * Starts learning one message token by token (`addOnce`, `addWordOnce`), each distinct token counted once
   * and at most `maxDistinct` of them, the same as `learn` on the message's token set, without building that set.
   */
  beginMessage(isSpam: boolean, maxDistinct: number): void {
    this.epoch = (this.epoch + 1) >>> 0 || 1;
    this.col = isSpam ? 2 : 3;
    this.distinct = 0;
    this.maxDistinct = maxDistinct;
    if (isSpam) this.nspam++; else this.nham++;
  }

  addOnce(token: string): void {
    // Past the cap nothing new is counted for this message.
    if (this.distinct >= this.maxDistinct) return;
    this.countOnce(this.slot(token));
  }

  /**
   * `addOnce(prefix + word)` when `unigram`, and `addOnce(prefix + prev + '~' + word)` when `prev` is not empty;
   * a token's string is built only when it is new to the dictionary.
   */
  addWordOnce(prefix: string, word: string, prev: string, unigram = true): void {
    if (this.distinct >= this.maxDistinct) return;
    const h = this.words;
    h.hash(prefix, word, prev);
    if (unigram) {
      this.ha = h.wordA;
      this.hb = h.wordB;
      const i = this.probe();
      this.countOnce(i >= 0 ? i : this.insert(prefix + word, -1 - i));
    }
    if (prev !== '') {
      this.ha = h.pairA;
      this.hb = h.pairB;
      const i = this.probe();
      if (this.distinct < this.maxDistinct) this.countOnce(i >= 0 ? i : this.insert(`${prefix}${prev}~${word}`, -1 - i));
    }
  }

  private countOnce(slot: number): void {
    const o = slot * STRIDE;
    if (this.slots[o + 4] === this.epoch) return;
    this.slots[o + 4] = this.epoch;
    this.slots[o + this.col]++;
    this.distinct++;
  }

  private find(token: string): number {
    this.hash(token);
    return this.probe();
  }

  /** Slot of the token with hashes `a` and `b` (from token-hash.ts), or a negative number when it is unknown. */
  slotOfHash(a: number, b: number): number {
    this.ha = a;
    this.hb = b;
    return this.probe();
  }

  spamAt(slot: number): number { return this.slots[slot * STRIDE + 2]; }
  hamAt(slot: number): number { return this.slots[slot * STRIDE + 3]; }

  spamOf(token: string): number { const i = this.find(token); return i < 0 ? 0 : this.slots[i * STRIDE + 2]; }
  hamOf(token: string): number { const i = this.find(token); return i < 0 ? 0 : this.slots[i * STRIDE + 3]; }

  /** Calls `fn(spam, ham)` for a token; returns false when it is unknown. */
  lookup(token: string, fn: (spam: number, ham: number) => void): boolean {
    const i = this.find(token);
    if (i < 0) return false;
    fn(this.slots[i * STRIDE + 2], this.slots[i * STRIDE + 3]);
    return true;
  }

  /** Tokens in the order they were first learned. */
  *entries(): IterableIterator<TokenStat> {
    const slotOf = new Int32Array(this.tokens.length);
    for (let i = 0; i < this.tokenAt.length; i++) if (this.tokenAt[i]) slotOf[this.tokenAt[i] - 1] = i;
    for (let t = 0; t < this.tokens.length; t++) {
      const o = slotOf[t] * STRIDE;
      const spam = this.slots[o + 2];
      const ham = this.slots[o + 3];
      if (spam || ham) yield { token: this.tokens[t], spam, ham };
    }
  }

  /** Adds every count of another dictionary (message totals included). */
  merge(other: Dictionary): void {
    for (const e of other.entries()) this.add(e.token, e.spam, e.ham);
    this.nspam += other.nspam;
    this.nham += other.nham;
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
      if (keep(e)) kept.add(e.token, e.spam, e.ham); else dropped++;
    }
    this.mask = kept.mask;
    this.slots = kept.slots;
    this.tokenAt = kept.tokenAt;
    this.tokens = kept.tokens;
    return dropped;
  }
}

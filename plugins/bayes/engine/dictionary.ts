// The token dictionary in memory: per token, in how many spam and ham messages it was seen.
//
// A Map of a million token strings spends most of its time on cache misses (bucket, entry, key string);
// here each token is hashed twice (64 bits together) into an open-addressing table of integers, and one
// typed array holds both hashes and both counts side by side, so a lookup touches about two cache lines.
// Two tokens with the same 64-bit hash would share counts; with a few million tokens that chance is ~1e-7.

export interface TokenStat { token: string; spam: number; ham: number }

const STRIDE = 4; // hash a, hash b, spam count, ham count

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
  private table = new Int32Array(1024);
  private ent = new Uint32Array(512 * STRIDE);
  private tokens: string[] = [];
  /** Per entry, the last message (epoch) that counted it: learning dedupes a message's tokens here, with no set of its own. */
  private stamps = new Uint32Array(512);
  private epoch = 0;
  private col = 2;
  private distinct = 0;
  private maxDistinct = 0;
  private ha = 0;
  private hb = 0;

  get size(): number { return this.tokens.length; }

  private hash(s: string): void {
    this.ha = 0x811c9dc5;
    this.hb = 0x9747b28c;
    this.mix(s);
    this.ha >>>= 0;
    this.hb >>>= 0;
  }

  /** Feeds a string into the running hashes (so `a`, `~`, `b` hash like the joined string, without joining it). */
  private mix(s: string): void {
    let a = this.ha;
    let b = this.hb;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 16777619);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 13;
    }
    this.ha = a;
    this.hb = b;
  }

  /** Index of the token's entry, or -1. Leaves the probe position's hashes in `ha`/`hb`. */
  private find(s: string): number {
    this.hash(s);
    return this.probe();
  }

  /** Index of the entry whose hashes are in `ha`/`hb`, or -1. */
  private probe(): number {
    const a = this.ha;
    const b = this.hb;
    const ent = this.ent;
    const table = this.table;
    const mask = this.mask;
    let i = a & mask;
    for (;;) {
      const e = table[i];
      if (e === 0) return -1;
      const o = (e - 1) * STRIDE;
      if (ent[o] === a && ent[o + 1] === b) return e - 1;
      i = (i + 1) & mask;
    }
  }

  private place(a: number, idx: number): void {
    let i = a & this.mask;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = idx + 1;
  }

  private grow(): void {
    if (this.tokens.length * STRIDE >= this.ent.length) {
      const e = new Uint32Array(this.ent.length * 2);
      e.set(this.ent);
      this.ent = e;
      const st = new Uint32Array(this.stamps.length * 2);
      st.set(this.stamps);
      this.stamps = st;
    }
    // Keep the table at most half full so probes stay short.
    if (this.tokens.length * 2 >= this.table.length) {
      this.table = new Int32Array(this.table.length * 2);
      this.mask = this.table.length - 1;
      for (let idx = 0; idx < this.tokens.length; idx++) this.place(this.ent[idx * STRIDE], idx);
    }
  }

  private slot(token: string): number {
    const found = this.find(token);
    return found >= 0 ? found : this.insert(token);
  }

  /** Adds an entry for a token whose hashes are in `ha`/`hb`. */
  private insert(token: string): number {
    const a = this.ha;
    const b = this.hb;
    this.grow();
    const idx = this.tokens.length;
    this.tokens.push(own(token));
    this.ent[idx * STRIDE] = a;
    this.ent[idx * STRIDE + 1] = b;
    this.place(a, idx);
    return idx;
  }

  /** Adds (or with negative numbers removes) counts of one token; counts never go below zero. */
  add(token: string, spam: number, ham: number): void {
    const o = this.slot(token) * STRIDE;
    this.ent[o + 2] = Math.max(0, this.ent[o + 2] + spam);
    this.ent[o + 3] = Math.max(0, this.ent[o + 3] + ham);
  }

  /** Learns one message given its distinct tokens. */
  learn(tokens: Iterable<string>, isSpam: boolean, times = 1): void {
    const col = isSpam ? 2 : 3;
    for (const t of tokens) this.ent[this.slot(t) * STRIDE + col] += times;
    if (isSpam) this.nspam += times; else this.nham += times;
  }

  /**
   * Starts learning one message token by token (`addOnce`), each distinct token counted once and at most
   * `maxDistinct` of them, the same as `learn` on the message's token set, without building that set.
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

  /** `addOnce(prefix + first + '~' + second)`, building that string only when the pair is new to the dictionary. */
  addPairOnce(prefix: string, first: string, second: string): void {
    if (this.distinct >= this.maxDistinct) return;
    this.ha = 0x811c9dc5;
    this.hb = 0x9747b28c;
    this.mix(prefix);
    this.mix(first);
    this.mix('~');
    this.mix(second);
    this.ha >>>= 0;
    this.hb >>>= 0;
    const found = this.probe();
    this.countOnce(found >= 0 ? found : this.insert(`${prefix}${first}~${second}`));
  }

  private countOnce(idx: number): void {
    if (this.stamps[idx] === this.epoch) return;
    this.stamps[idx] = this.epoch;
    this.ent[idx * STRIDE + this.col]++;
    this.distinct++;
  }

  spamOf(token: string): number { const i = this.find(token); return i < 0 ? 0 : this.ent[i * STRIDE + 2]; }
  hamOf(token: string): number { const i = this.find(token); return i < 0 ? 0 : this.ent[i * STRIDE + 3]; }

  /** Calls `fn(spam, ham)` for a token; returns false when it is unknown. */
  lookup(token: string, fn: (spam: number, ham: number) => void): boolean {
    const i = this.find(token);
    if (i < 0) return false;
    fn(this.ent[i * STRIDE + 2], this.ent[i * STRIDE + 3]);
    return true;
  }

  *entries(): IterableIterator<TokenStat> {
    for (let i = 0; i < this.tokens.length; i++) {
      const spam = this.ent[i * STRIDE + 2];
      const ham = this.ent[i * STRIDE + 3];
      if (spam || ham) yield { token: this.tokens[i], spam, ham };
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
    this.table = kept.table;
    this.ent = kept.ent;
    this.tokens = kept.tokens;
    this.stamps = kept.stamps;
    return dropped;
  }
}

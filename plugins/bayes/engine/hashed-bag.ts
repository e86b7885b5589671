// The distinct tokens of one message and how often each occurs, kept as hash pairs: the scoring path's bag.
//
// Why not a Map of strings: scoring built the string of every word pair and hashed it again for the lookup; about
// half of the time per message went there. Here each body word is hashed once and a pair's hashes follow from its
// words' (as in learning), so no token string is built at all.
import type { TokenSink } from './tokenizer.ts';
import { WordHasher, hashA, hashB } from './token-hash.ts';

export class HashedBag implements TokenSink {
  /** Hash A, hash B (odd) and count of each distinct token, in the order they first came. */
  readonly a: Int32Array;
  readonly b: Int32Array;
  readonly count: Int32Array;
  size = 0;
  /** Table slot of each token, so `clear` empties only what this message used. */
  private readonly slotOf: Int32Array;
  private readonly max: number;
  get capacity(): number { return this.max; }
  private readonly table: Int32Array;
  private readonly mask: number;
  private readonly words = new WordHasher();

  /** At most `max` distinct tokens, the first ones, as the string bag keeps them. */
  constructor(max: number) {
    this.max = max;
    this.a = new Int32Array(max);
    this.b = new Int32Array(max);
    this.count = new Int32Array(max);
    this.slotOf = new Int32Array(max);
    let size = 16;
    while (size < max * 2) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
  }

  /** Empties the bag for the next message (one bag serves every message a filter scores). */
  clear(): void {
    for (let t = 0; t < this.size; t++) this.table[this.slotOf[t]] = 0;
    this.size = 0;
  }

  add(token: string): void { this.put(hashA(token), hashB(token)); }

  addWord(prefix: string, word: string, prev: string, unigram: boolean): void {
    const h = this.words;
    h.hash(prefix, word, prev);
    if (unigram) this.put(h.wordA, h.wordB);
    if (prev !== '') this.put(h.pairA, h.pairB);
  }

  private put(a: number, b: number): void {
    const bo = b | 1;
    let i = (Math.imul(a ^ (a >>> 16), 0x85ebca6b) >>> 0) & this.mask;
    for (;;) {
      const at = this.table[i];
      if (at === 0) break;
      if (this.b[at - 1] === bo && this.a[at - 1] === a) { this.count[at - 1]++; return; }
      i = (i + 1) & this.mask;
    }
    if (this.size >= this.max) return;
    this.a[this.size] = a;
    this.b[this.size] = bo;
    this.count[this.size] = 1;
    this.slotOf[this.size] = i;
    this.table[i] = ++this.size;
  }
}

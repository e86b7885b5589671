// The distinct tokens of one message and how often each occurs, kept as hash pairs: what scoring looks up and
// learning counts.
//
// Why not a Map of strings: scoring built the string of every word pair and hashed it again for the lookup; about
// half of the time per message went there. Here each body word is hashed once and a pair's hashes follow from its
// words', so no token string is built at all. Learning needs the string of a token new to the dictionary only, so
// with `keepParts` the bag keeps the pieces it is made of and writes them out on demand (`writeToken`).
// Repeats within the message are merged here, in a table small enough to stay in cache, so the dictionary's
// big table is probed once per distinct token.
import type { TokenSink } from './tokenizer.ts';
import { WordHasher, hashA, hashB } from './token-hash.ts';
import type { TokenText } from './token-text.ts';

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
  /** With `keepParts`: token t is parts[3t] + parts[3t+2] + '~' + parts[3t+1] for a pair (parts[3t+2] not ''), else parts[3t] + parts[3t+1]. */
  private readonly parts?: string[];

  /** At most `max` distinct tokens, the first ones, as the string bag keeps them. */
  constructor(max: number, keepParts = false) {
    this.max = max;
    if (keepParts) this.parts = new Array<string>(max * 3).fill('');
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

  add(token: string): void {
    if (this.put(hashA(token), hashB(token))) this.keep('', token, '');
  }

  addWord(prefix: string, word: string, prev: string, unigram: boolean): void {
    const h = this.words;
    h.hash(prefix, word, prev);
    if (unigram && this.put(h.wordA, h.wordB)) this.keep(prefix, word, '');
    if (prev !== '' && this.put(h.pairA, h.pairB)) this.keep(prefix, word, prev);
  }

  /** Writes the text of token `t` (only with `keepParts`) as a new token of `out`. */
  writeToken(t: number, out: TokenText): void {
    const p = this.parts!;
    const prev = p[3 * t + 2];
    out.write(p[3 * t]);
    if (prev !== '') { out.write(prev); out.write('~'); }
    out.write(p[3 * t + 1]);
    out.end();
  }

  /** Notes the parts of the token `put` just added. */
  private keep(prefix: string, word: string, prev: string): void {
    const p = this.parts;
    if (!p) return;
    const o = 3 * (this.size - 1);
    p[o] = prefix;
    p[o + 1] = word;
    p[o + 2] = prev;
  }

  /** Counts one occurrence; true when the token is new to the bag (and was taken in). */
  private put(a: number, b: number): boolean {
    const bo = b | 1;
    let i = (Math.imul(a ^ (a >>> 16), 0x85ebca6b) >>> 0) & this.mask;
    for (;;) {
      const at = this.table[i];
      if (at === 0) break;
      if (this.b[at - 1] === bo && this.a[at - 1] === a) { this.count[at - 1]++; return false; }
      i = (i + 1) & this.mask;
    }
    if (this.size >= this.max) return false;
    this.a[this.size] = a;
    this.b[this.size] = bo;
    this.count[this.size] = 1;
    this.slotOf[this.size] = i;
    this.table[i] = ++this.size;
    return true;
  }
}

// The two 32-bit polynomial hashes a token is known by (see dictionary.ts): shared by the dictionary and by the
// per-message bag of the scoring path, which must hash every token exactly as learning did.

const BA = 0x01000193;
const BB = 0x5bd1e995;
/** '~', which joins the two words of a pair. */
const TILDE = 126;

/** B^k mod 2^32 for the lengths words have (longer ones are computed on the spot). */
const POW_A = new Int32Array(64);
const POW_B = new Int32Array(64);
POW_A[0] = 1;
POW_B[0] = 1;
for (let k = 1; k < 64; k++) {
  POW_A[k] = Math.imul(POW_A[k - 1], BA);
  POW_B[k] = Math.imul(POW_B[k - 1], BB);
}
function powA(k: number): number {
  if (k < 64) return POW_A[k];
  let p = POW_A[63];
  for (let i = 63; i < k; i++) p = Math.imul(p, BA);
  return p;
}
function powB(k: number): number {
  if (k < 64) return POW_B[k];
  let p = POW_B[63];
  for (let i = 63; i < k; i++) p = Math.imul(p, BB);
  return p;
}

/** Hash A of a string. */
export function hashA(s: string): number {
  let a = 0;
  for (let i = 0; i < s.length; i++) a = (Math.imul(a, BA) + s.charCodeAt(i)) | 0;
  return a;
}

/** Hash B of a string. */
export function hashB(s: string): number {
  let b = 0;
  for (let i = 0; i < s.length; i++) b = (Math.imul(b, BB) + s.charCodeAt(i)) | 0;
  return b;
}

/**
 * Both hashes of the ASCII bytes `from`…`to` into `out[0]` and `out[1]`: the same as of the string they spell, since
 * an ASCII byte is that char's UTF-16 unit (reading a dictionary file without making a string per token).
 */
export function hashAscii(bytes: Uint8Array, from: number, to: number, out: Int32Array): void {
  let a = 0;
  let b = 0;
  for (let k = from; k < to; k++) {
    const c = bytes[k];
    a = (Math.imul(a, BA) + c) | 0;
    b = (Math.imul(b, BB) + c) | 0;
  }
  out[0] = a;
  out[1] = b;
}

/**
 * Hashes of `prefix + word`, and of the pair `prefix + prev + '~' + word`, from the word's own hashes: a body word
 * is hashed once, and the previous word's hashes are kept for the pair (learning and scoring both use this).
 */
export class WordHasher {
  /** Hashes of prefix + word, after `hash`. */
  wordA = 0;
  wordB = 0;
  /** Hashes of prefix + prev + '~' + word, after `hash` with a `prev`. */
  pairA = 0;
  pairB = 0;
  private prefixStr = '';
  private prefixA = 0;
  private prefixB = 0;
  private lastWord = '';
  private lastPrefix = '';
  private lastA = 0;
  private lastB = 0;

  hash(prefix: string, word: string, prev: string): void {
    let wa = 0;
    let wb = 0;
    for (let i = 0; i < word.length; i++) {
      const c = word.charCodeAt(i);
      wa = (Math.imul(wa, BA) + c) | 0;
      wb = (Math.imul(wb, BB) + c) | 0;
    }
    const n = word.length;
    if (prefix !== this.prefixStr) {
      this.prefixStr = prefix;
      this.prefixA = hashA(prefix);
      this.prefixB = hashB(prefix);
    }
    // hash(prefix + word) = hash(prefix)·B^n + hash(word)
    const ua = (Math.imul(this.prefixA, POW_A[n] ?? powA(n)) + wa) | 0;
    const ub = (Math.imul(this.prefixB, POW_B[n] ?? powB(n)) + wb) | 0;
    this.wordA = ua;
    this.wordB = ub;
    if (prev !== '') {
      let pa: number;
      let pb: number;
      if (prev === this.lastWord && prefix === this.lastPrefix) { pa = this.lastA; pb = this.lastB; } else { pa = hashA(prefix + prev); pb = hashB(prefix + prev); }
      // hash(prefix + prev + '~' + word) = hash(prefix + prev)·B^(n+1) + '~'·B^n + hash(word)
      this.pairA = (Math.imul(pa, POW_A[n + 1] ?? powA(n + 1)) + Math.imul(TILDE, POW_A[n] ?? powA(n)) + wa) | 0;
      this.pairB = (Math.imul(pb, POW_B[n + 1] ?? powB(n + 1)) + Math.imul(TILDE, POW_B[n] ?? powB(n)) + wb) | 0;
    }
    this.lastWord = word;
    this.lastPrefix = prefix;
    this.lastA = ua;
    this.lastB = ub;
  }
}

/** Murmur3's finaliser: spreads every bit of the polynomial hash (whose low bits see only the chars' low bits), or of any 32-bit key, over all 32 bits. */
export function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

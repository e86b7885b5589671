// The messages one training run has learned, known by class and by the set of tokens they were learned by (the
// bag's, so at most the tokenizer's cap of distinct tokens), so that a copy is learned once.
//
// Why: folders of mail hold copies (the same spam delivered to several of the corpus's users, a message kept in
// two folders), and a copy learned again counts its tokens again, as if a second message had vouched for them.
// sa-learn keeps a list of the messages it has learned for the same reason. Chosen by cross-validation
// (plugins/bayes/MEASUREMENTS.md). A message and its copy learned as the other class are both learned: that is a
// disagreement of labels, which the counts should hold.
import type { HashedBag } from './hashed-bag.ts';

export class SeenMessages {
  private readonly keys = new Set<string>();
  /** Copies passed over, by class. */
  readonly duplicates = { spam: 0, ham: 0 };

  /** Notes a message by its bag of tokens; false (and counted) when one of its class with the same tokens came before. */
  add(bag: HashedBag, isSpam: boolean): boolean {
    const key = `${isSpam ? 's' : 'h'}${signature(bag)}`;
    if (this.keys.has(key)) {
      if (isSpam) this.duplicates.spam++; else this.duplicates.ham++;
      return false;
    }
    this.keys.add(key);
    return true;
  }
}

/**
 * The set of the bag's tokens, whatever their order or how often each occurs: its size and three sums over the
 * tokens' hash pairs, each mixed differently, so two sets that differ collide with odds of about 2^-96.
 */
function signature(bag: HashedBag): string {
  let x = 0;
  let y = 0;
  let z = 0;
  for (let t = 0; t < bag.size; t++) {
    const a = bag.a[t];
    const b = bag.b[t];
    x = (x + Math.imul(a, 0x9e3779b1) + b) | 0;
    y = (y + Math.imul(b ^ (a >>> 15), 0x85ebca6b)) | 0;
    z = (z + Math.imul(a ^ Math.imul(b, 0xc2b2ae35), 0x27d4eb2f)) | 0;
  }
  return `${bag.size}:${x}:${y}:${z}`;
}

// What training learned, message by message: each message's distinct tokens (by their number in the dictionary)
// and how often each occurred, so the reinforcement pass can judge the messages again without reading,
// parsing and tokenizing them a second time. About 5 bytes per distinct token of each message (a few hundred
// distinct tokens a message: 15,000 messages take about 30 MB). Token numbers are the dictionary's at the time:
// pruning renumbers them, so a record is for the dictionary it was made with, before any `filter`.

import { grown } from './grown.ts';

export class LearnedTokens {
  /** Token numbers (Dictionary.slotsOfIds maps them to slots) and occurrence counts, all messages end to end. */
  private ids = new Int32Array(1 << 16);
  /** Counts of 255 and more are 255 here and exact in `large` (the `frequent` mode ranks tokens by them). */
  private occ = new Uint8Array(1 << 16);
  private readonly large = new Map<number, number>();
  /** Messages with an entry in `large`. */
  private readonly withLarge = new Set<number>();
  private used = 0;
  /** Where each message starts in `ids`. */
  private starts: number[] = [0];
  private classes: boolean[] = [];

  /** Messages recorded. */
  get size(): number { return this.classes.length; }

  /** Starts the next message. */
  begin(isSpam: boolean): void {
    if (this.classes.length) this.starts.push(this.used);
    this.classes.push(isSpam);
  }

  /** The message's next distinct token, which occurred `occurrences` times in it. */
  add(id: number, occurrences: number): void {
    if (this.used === this.ids.length) {
      this.ids = grown(this.ids, this.used + 1);
      this.occ = grown(this.occ, this.used + 1);
    }
    this.ids[this.used] = id;
    if (occurrences >= 255) {
      this.large.set(this.used, occurrences);
      this.withLarge.add(this.classes.length - 1);
    }
    this.occ[this.used++] = Math.min(occurrences, 255);
  }

  isSpam(message: number): boolean { return this.classes[message]; }

  /** The message's token numbers and occurrence counts (views, valid until more is recorded). */
  tokensOf(message: number): { ids: Int32Array; occurrences: ArrayLike<number> } {
    const from = this.starts[message];
    const to = message + 1 < this.starts.length ? this.starts[message + 1] : this.used;
    const ids = this.ids.subarray(from, to);
    if (!this.withLarge.has(message)) return { ids, occurrences: this.occ.subarray(from, to) };
    const occurrences = Int32Array.from(this.occ.subarray(from, to));
    for (let k = 0; k < occurrences.length; k++) occurrences[k] = this.large.get(from + k) ?? occurrences[k];
    return { ids, occurrences };
  }
}

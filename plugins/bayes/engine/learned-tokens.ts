// What training learned, message by message: each message's distinct tokens (by their number in the dictionary)
// and how often each occurred, so the reinforcement pass can judge the messages again without reading,
// parsing and tokenizing them a second time. About 5 bytes per distinct token of each message.

export class LearnedTokens {
  /** Token numbers (Dictionary.idsToSlots maps them to slots) and occurrence counts (capped at 255), all messages end to end. */
  private ids = new Int32Array(1 << 16);
  private occ = new Uint8Array(1 << 16);
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
    if (this.used === this.ids.length) this.grow();
    this.ids[this.used] = id;
    this.occ[this.used++] = Math.min(occurrences, 255);
  }

  isSpam(message: number): boolean { return this.classes[message]; }

  /** The message's token numbers and occurrence counts (views, valid until more is recorded). */
  tokensOf(message: number): { ids: Int32Array; occurrences: Uint8Array } {
    const from = this.starts[message];
    const to = message + 1 < this.starts.length ? this.starts[message + 1] : this.used;
    return { ids: this.ids.subarray(from, to), occurrences: this.occ.subarray(from, to) };
  }

  private grow(): void {
    const ids = new Int32Array(this.ids.length * 2);
    ids.set(this.ids);
    const occ = new Uint8Array(this.occ.length * 2);
    occ.set(this.occ);
    this.ids = ids;
    this.occ = occ;
  }
}

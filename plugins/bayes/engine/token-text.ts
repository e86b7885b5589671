// The dictionary's token strings, end to end in one array of UTF-16 code units instead of a million JavaScript
// strings: a new token costs a copy of its characters, not a string built, flattened and kept for the garbage
// collector to trace (measured: about 130 ns against 540 ns a token, and learning's main cost after hashing).
// A token becomes a string again only when it is read (saving, merging, pruning).

import { grown } from './grown.ts';

/** A TokenText's arrays and lengths, as `toState` hands them over (to another thread, say). */
export interface TokenTextState { chars: Uint16Array<ArrayBuffer>; ends: Int32Array<ArrayBuffer>; used: number; count: number }

export class TokenText {
  private chars = new Uint16Array(1 << 16);
  /** Where token i ends in `chars` (it starts where token i − 1 ends). */
  private ends = new Int32Array(1 << 12);
  private used = 0;
  private count = 0;

  /** Its arrays, not copies: this TokenText must not be used once they are transferred. */
  toState(): TokenTextState {
    return { chars: this.chars, ends: this.ends, used: this.used, count: this.count };
  }

  static fromState(s: TokenTextState): TokenText {
    const t = new TokenText();
    t.chars = s.chars;
    t.ends = s.ends;
    t.used = s.used;
    t.count = s.count;
    return t;
  }

  /** Tokens held. */
  get size(): number { return this.count; }

  /** Appends a piece of the token being written; `end` closes it. */
  write(s: string): void {
    const n = s.length;
    if (this.used + n > this.chars.length) this.chars = grown(this.chars, this.used + n, this.used);
    const chars = this.chars;
    let at = this.used;
    for (let i = 0; i < n; i++) chars[at++] = s.charCodeAt(i);
    this.used = at;
  }

  /** Appends ASCII bytes `from`…`to` of `bytes` (one unit each) to the token being written. */
  writeAscii(bytes: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.used + n > this.chars.length) this.chars = grown(this.chars, this.used + n, this.used);
    // A loop, not set(subarray): a token is a few bytes, and a subarray is an object made per token.
    const chars = this.chars;
    let at = this.used;
    for (let k = from; k < to; k++) chars[at++] = bytes[k];
    this.used = at;
  }

  /** Closes the token being written; returns its number. */
  end(): number {
    if (this.count === this.ends.length) this.ends = grown(this.ends, this.count + 1);
    this.ends[this.count] = this.used;
    return this.count++;
  }

  /** Appends a whole token; returns its number. */
  push(token: string): number {
    this.write(token);
    return this.end();
  }

  /** Every token's units end to end, and where token i ends (read-only views, valid until more is written). */
  view(): { units: Uint16Array; ends: Int32Array; count: number } {
    return { units: this.chars.subarray(0, this.used), ends: this.ends.subarray(0, this.count), count: this.count };
  }

  /** Token number `i` as a string. */
  get(i: number): string {
    const from = i === 0 ? 0 : this.ends[i - 1];
    const to = this.ends[i];
    // fromCharCode takes the units as arguments; tokens are short, but a very long one is read in parts.
    let s = '';
    for (let at = from; at < to; at += 4096) s += String.fromCharCode.apply(null, this.chars.subarray(at, Math.min(to, at + 4096)) as unknown as number[]);
    return s;
  }
}

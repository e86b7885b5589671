// The binary range decoder under LZMA: each bit is read against an adaptive probability (11 bits, 1024 = even odds)
// that moves toward what it saw. The input is the sender's, so running out of it is an error of its own, never a read
// of bytes that are not there; the caller bounds how many symbols it asks for.

/** The compressed stream is damaged or cut short: whatever it would decode to is not to be trusted. */
export class LzmaDamaged extends Error {}

/** A probability of one half, what every model starts at. */
export const EVEN_ODDS = 1024;

const PROBABILITY_BITS = 11;
const ADAPT_SHIFT = 5;
const NORMALIZE_BELOW = 2 ** 24;

export class RangeDecoder {
  private readonly input: Buffer;
  private at: number;
  private readonly end: number;
  // Both stay below 2^32 and code stays below range, so plain numbers hold them exactly.
  private range = 0xffffffff;
  private code = 0;

  /** A decoder of the bytes of `input` from `start` to `end`, which must hold a whole stream. */
  constructor(input: Buffer, start = 0, end = input.length) {
    this.input = input;
    this.at = start;
    this.end = Math.min(end, input.length);
    if (this.nextByte() !== 0) throw new LzmaDamaged('its range coder does not start with a zero byte');
    for (let i = 0; i < 4; i++) this.code = this.code * 256 + this.nextByte();
    if (this.code >= this.range) throw new LzmaDamaged('its range coder starts out of range');
  }

  /** One bit by the probability `probs[i]`, which learns from it. */
  bit(probs: Uint16Array, i: number): number {
    const p = probs[i];
    const bound = (this.range >>> PROBABILITY_BITS) * p;
    let bit: number;
    if (this.code < bound) {
      this.range = bound;
      probs[i] = p + (((1 << PROBABILITY_BITS) - p) >>> ADAPT_SHIFT);
      bit = 0;
    } else {
      this.range -= bound;
      this.code -= bound;
      probs[i] = p - (p >>> ADAPT_SHIFT);
      bit = 1;
    }
    if (this.range < NORMALIZE_BELOW) this.shiftIn();
    return bit;
  }

  /** `count` bits of even odds, high bit first (up to 26 of them, the most LZMA asks). */
  directBits(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      this.range = Math.floor(this.range / 2);
      let bit = 0;
      if (this.code >= this.range) { this.code -= this.range; bit = 1; }
      value = value * 2 + bit;
      if (this.range < NORMALIZE_BELOW) this.shiftIn();
    }
    return value;
  }

  /** A `bits`-bit number, high bit first, each bit's probability picked by the bits before it (`probs[base + 1]` on) */
  tree(probs: Uint16Array, base: number, bits: number): number {
    let node = 1;
    for (let i = 0; i < bits; i++) node = (node << 1) | this.bit(probs, base + node);
    return node - (1 << bits);
  }

  /** As `tree`, but the number's low bit comes first. */
  reverseTree(probs: Uint16Array, base: number, bits: number): number {
    let node = 1;
    let value = 0;
    for (let i = 0; i < bits; i++) {
      const bit = this.bit(probs, base + node);
      node = (node << 1) | bit;
      value |= bit << i;
    }
    return value;
  }

  private shiftIn(): void {
    this.range *= 256;
    this.code = this.code * 256 + this.nextByte();
  }

  private nextByte(): number {
    if (this.at >= this.end) throw new LzmaDamaged('it ends before the bytes it decodes to');
    return this.input[this.at++];
  }
}

// LZMA decoding into a buffer the caller sized (the size the archive declares), so the whole output is the dictionary
// and nothing grows: a literal is coded against the byte before it and the byte the last match would repeat; a match
// copies from a distance back, a new one or one of the last four. Twelve states remember what kind of packets came
// last. Each packet writes at least one byte or ends the decoding, so the work is bounded by the declared size; a
// distance before the start, a match past the end, or input that runs out is LzmaDamaged, never a read out of bounds.
import { EVEN_ODDS, LzmaDamaged, RangeDecoder } from './range-decoder.ts';

/** lc: high bits of the previous byte, lp: low bits of the position, pb: position bits of the packet models. */
export interface LzmaProperties { lc: number; lp: number; pb: number }

/**
 * The most literal-context bits (lc + lp) decoded. The format allows 12, whose literal models take 6 MB; LZMA2 allows
 * 4 and every 7-Zip preset uses 3, so 8 (384 KB of models) leaves room for unusual writers and no more.
 */
const MAX_LITERAL_CONTEXT_BITS = 8;

const STATES = 12;
/** States below this one follow a literal: their next literal is coded without a match byte. */
const AFTER_LITERAL = 7;
const MAX_POSITION_BITS = 4;
const MIN_MATCH = 2;
const LITERAL_MODELS = 0x300;
const DISTANCE_SLOT_BITS = 6;
const DISTANCE_LENGTH_STATES = 4;
/** Slots from this one code their low four bits with the align models, the rest as direct bits. */
const FIRST_ALIGNED_SLOT = 14;
const ALIGN_BITS = 4;
const FULL_DISTANCES = 128;
const END_MARKER = 0xffffffff;

/** The properties byte of an LZMA stream: (pb * 5 + lp) * 9 + lc. */
export function lzmaProperties(byte: number): LzmaProperties {
  if (byte >= 9 * 5 * 5) throw new LzmaDamaged(`its properties byte ${byte} is out of range`);
  return { lc: byte % 9, lp: Math.floor(byte / 9) % 5, pb: Math.floor(byte / 45) };
}

/** The length of a match or repeat, less the minimum: 8 short lengths by position, 8 middle ones, 256 long ones. */
class LengthDecoder {
  private readonly choice = new Uint16Array(2);
  private readonly short = new Uint16Array(8 << MAX_POSITION_BITS);
  private readonly middle = new Uint16Array(8 << MAX_POSITION_BITS);
  private readonly long = new Uint16Array(256);

  reset(): void {
    for (const probs of [this.choice, this.short, this.middle, this.long]) probs.fill(EVEN_ODDS);
  }

  decode(rc: RangeDecoder, posState: number): number {
    if (rc.bit(this.choice, 0) === 0) return rc.tree(this.short, posState << 3, 3);
    if (rc.bit(this.choice, 1) === 0) return 8 + rc.tree(this.middle, posState << 3, 3);
    return 16 + rc.tree(this.long, 0, 8);
  }
}

export class LzmaDecoder {
  /** Where decoded bytes go; `written` of them are. */
  readonly out: Buffer;
  written = 0;
  /** Where the dictionary starts: no distance reaches before it (LZMA2 resets it). */
  private dictionaryStart = 0;
  private lc = 0;
  private lpMask = 0;
  private pbMask = 0;
  private literals = new Uint16Array(0);
  private readonly isMatch = new Uint16Array(STATES << MAX_POSITION_BITS);
  private readonly isRepeat = new Uint16Array(STATES);
  private readonly isRepeat0 = new Uint16Array(STATES);
  private readonly isRepeat1 = new Uint16Array(STATES);
  private readonly isRepeat2 = new Uint16Array(STATES);
  private readonly isLongRepeat0 = new Uint16Array(STATES << MAX_POSITION_BITS);
  private readonly distanceSlots = new Uint16Array(DISTANCE_LENGTH_STATES << DISTANCE_SLOT_BITS);
  private readonly distanceMiddles = new Uint16Array(1 + FULL_DISTANCES - FIRST_ALIGNED_SLOT);
  private readonly align = new Uint16Array(1 << ALIGN_BITS);
  private readonly matchLength = new LengthDecoder();
  private readonly repeatLength = new LengthDecoder();
  private state = 0;
  // The last four distances (less one), the most recent first.
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;

  constructor(out: Buffer) {
    this.out = out;
  }

  setProperties(p: LzmaProperties): void {
    if (p.lc + p.lp > MAX_LITERAL_CONTEXT_BITS) throw new LzmaDamaged(`its literal context of ${p.lc + p.lp} bits is over the ${MAX_LITERAL_CONTEXT_BITS} decoded`);
    if (p.pb > MAX_POSITION_BITS) throw new LzmaDamaged(`its ${p.pb} position bits are over ${MAX_POSITION_BITS}`);
    this.lc = p.lc;
    this.lpMask = (1 << p.lp) - 1;
    this.pbMask = (1 << p.pb) - 1;
    const size = LITERAL_MODELS << (p.lc + p.lp);
    if (this.literals.length !== size) this.literals = new Uint16Array(size);
  }

  /** Every model back to even odds, and the state and distances to their start. */
  resetState(): void {
    for (const probs of [this.literals, this.isMatch, this.isRepeat, this.isRepeat0, this.isRepeat1, this.isRepeat2,
      this.isLongRepeat0, this.distanceSlots, this.distanceMiddles, this.align]) probs.fill(EVEN_ODDS);
    this.matchLength.reset();
    this.repeatLength.reset();
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  /** Later distances reach back only to here. */
  resetDictionary(): void {
    this.dictionaryStart = this.written;
  }

  /** Bytes stored as they are (an LZMA2 chunk that did not compress), part of the dictionary as decoded ones are. */
  appendStored(bytes: Buffer): void {
    if (bytes.length > this.out.length - this.written) throw new LzmaDamaged('it holds more than its stated size');
    bytes.copy(this.out, this.written);
    this.written += bytes.length;
  }

  /** Decodes from `rc` until `end` bytes are written; an end marker before that is damage. */
  decode(rc: RangeDecoder, end: number): void {
    const out = this.out;
    if (end > out.length) throw new LzmaDamaged('it holds more than its stated size');
    while (this.written < end) {
      const posState = this.written & this.pbMask;
      if (rc.bit(this.isMatch, (this.state << MAX_POSITION_BITS) + posState) === 0) {
        this.literal(rc);
        continue;
      }
      let length: number;
      if (rc.bit(this.isRepeat, this.state) === 0) {
        length = this.matchLength.decode(rc, posState);
        this.state = this.state < AFTER_LITERAL ? 7 : 10;
        const distance = this.distance(rc, length);
        if (distance === END_MARKER) throw new LzmaDamaged(`it ends after ${this.written} of its ${end} bytes`);
        this.rep3 = this.rep2;
        this.rep2 = this.rep1;
        this.rep1 = this.rep0;
        this.rep0 = distance;
      } else {
        if (rc.bit(this.isRepeat0, this.state) === 0) {
          if (rc.bit(this.isLongRepeat0, (this.state << MAX_POSITION_BITS) + posState) === 0) {
            this.state = this.state < AFTER_LITERAL ? 9 : 11;
            this.copy(1, end);
            continue;
          }
        } else {
          let distance: number;
          if (rc.bit(this.isRepeat1, this.state) === 0) {
            distance = this.rep1;
          } else {
            if (rc.bit(this.isRepeat2, this.state) === 0) {
              distance = this.rep2;
            } else {
              distance = this.rep3;
              this.rep3 = this.rep2;
            }
            this.rep2 = this.rep1;
          }
          this.rep1 = this.rep0;
          this.rep0 = distance;
        }
        length = this.repeatLength.decode(rc, posState);
        this.state = this.state < AFTER_LITERAL ? 8 : 11;
      }
      this.copy(length + MIN_MATCH, end);
    }
  }

  private literal(rc: RangeDecoder): void {
    const out = this.out;
    const at = this.written;
    const previous = at > this.dictionaryStart ? out[at - 1] : 0;
    const base = LITERAL_MODELS * (((at & this.lpMask) << this.lc) + (previous >>> (8 - this.lc)));
    let symbol = 1;
    if (this.state >= AFTER_LITERAL) {
      // After a match the byte it would have repeated next steers the models, until the first bit that differs.
      let matchByte = out[this.source()];
      do {
        const matchBit = (matchByte >>> 7) & 1;
        matchByte <<= 1;
        const bit = rc.bit(this.literals, base + ((1 + matchBit) << 8) + symbol);
        symbol = (symbol << 1) | bit;
        if (bit !== matchBit) break;
      } while (symbol < 0x100);
    }
    while (symbol < 0x100) symbol = (symbol << 1) | rc.bit(this.literals, base + symbol);
    out[at] = symbol & 0xff;
    this.written = at + 1;
    this.state = this.state < 4 ? 0 : this.state < 10 ? this.state - 3 : this.state - 6;
  }

  /** A new match's distance (less one), its slot chosen by the length (`length` less the minimum). */
  private distance(rc: RangeDecoder, length: number): number {
    const slot = rc.tree(this.distanceSlots, Math.min(length, DISTANCE_LENGTH_STATES - 1) << DISTANCE_SLOT_BITS, DISTANCE_SLOT_BITS);
    if (slot < 4) return slot;
    const lowBits = (slot >>> 1) - 1;
    // Up to 2^32 - 1: multiplication, as a shift would overflow 32 bits.
    const base = (2 + (slot & 1)) * 2 ** lowBits;
    if (slot < FIRST_ALIGNED_SLOT) return base + rc.reverseTree(this.distanceMiddles, base - slot, lowBits);
    return base + rc.directBits(lowBits - ALIGN_BITS) * (1 << ALIGN_BITS) + rc.reverseTree(this.align, 0, ALIGN_BITS);
  }

  /** Where the byte `rep0 + 1` back is; a distance before the dictionary's start is damage. */
  private source(): number {
    if (this.rep0 >= this.written - this.dictionaryStart) throw new LzmaDamaged(`a match reaches ${this.rep0 + 1} bytes back from byte ${this.written}`);
    return this.written - this.rep0 - 1;
  }

  private copy(length: number, end: number): void {
    if (length > end - this.written) throw new LzmaDamaged('a match runs past its stated size');
    const out = this.out;
    let from = this.source();
    // Byte by byte: a match may overlap what it writes (a run of one byte repeated).
    for (let i = 0; i < length; i++) out[this.written++] = out[from++];
  }
}

/** The `size` bytes the LZMA stream `input` decodes to, by its five property bytes (as 7z stores them). */
export function decodeLzma(input: Buffer, properties: Buffer, size: number): Buffer {
  if (properties.length < 5) throw new LzmaDamaged(`its properties are ${properties.length} bytes, not 5`);
  const decoder = new LzmaDecoder(Buffer.alloc(size));
  decoder.setProperties(lzmaProperties(properties[0]));
  decoder.resetState();
  // The dictionary size (the other four bytes) needs no heed: the whole output is held, whatever it says.
  if (size > 0) decoder.decode(new RangeDecoder(input), size);
  return decoder.out;
}

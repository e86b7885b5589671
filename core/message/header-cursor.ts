// Reading an archive header field by field from the bytes of that header alone. The header is the sender's: a count
// or a length in it may point past its end, so every read is checked, and one that would run past the end stops the
// whole header (HeaderDamaged) rather than read bytes that are not part of it.

/** The header ends before a field it states: the archive is damaged or made to mislead. */
export class HeaderDamaged extends Error {}

export class HeaderCursor {
  private readonly bytes: Buffer;
  private at = 0;

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  get remaining(): number {
    return this.bytes.length - this.at;
  }

  byte(): number {
    if (this.at >= this.bytes.length) throw new HeaderDamaged('a field runs past the end of its header');
    return this.bytes[this.at++];
  }

  take(n: number): Buffer {
    if (n > this.remaining) throw new HeaderDamaged('a field runs past the end of its header');
    const b = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  skip(n: number): void {
    this.take(n);
  }

  u32(): number {
    return this.take(4).readUInt32LE(0);
  }

  /** What is left of the header, as a cursor of its own; this one moves to the end. */
  rest(): HeaderCursor {
    return new HeaderCursor(this.take(this.remaining));
  }

  /** A RAR 5 vint: seven bits a byte, low bits first, the high bit saying another byte follows. */
  rarVint(): number {
    let value = 0;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      value += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) return checkedSize(value);
    }
    throw new HeaderDamaged('a number is longer than ten bytes');
  }

  /**
   * A 7z NUMBER: the leading one bits of its first byte count the bytes that follow (little-endian), and the rest of
   * that first byte is the value's high part.
   */
  sevenZipNumber(): number {
    const first = this.byte();
    let extra = 0;
    while (extra < 8 && first & (0x80 >> extra)) extra++;
    let value = 0;
    for (let i = 0; i < extra; i++) value += this.byte() * 2 ** (8 * i);
    if (extra < 8) value += (first & (0xff >> (extra + 1))) * 2 ** (8 * extra);
    return checkedSize(value);
  }

  /** A vector of `n` flags, the first in the high bit of the first byte. */
  bits(n: number): boolean[] {
    const b = this.take(Math.ceil(n / 8));
    return Array.from({ length: n }, (_, i) => (b[i >> 3] & (0x80 >> (i & 7))) !== 0);
  }
}

/** A size or count past 2^53 describes nothing a message holds, and would lose its low bits as a number. */
function checkedSize(v: number): number {
  if (!Number.isSafeInteger(v)) throw new HeaderDamaged('a number is past any size a message holds');
  return v;
}

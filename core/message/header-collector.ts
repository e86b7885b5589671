// The header section at the start of a message that arrives in chunks.
//
// Each chunk is appended once and only the bytes that can hold a new blank line are searched. Joining all chunks
// so far and searching from the start for each chunk made tiny chunks quadratic (0.9 s for a 256 KB header sent
// 16 bytes at a time).

import { headerEnd } from './header-block.ts';

export class HeaderCollector {
  private buf: Buffer;
  private len = 0;
  private readonly max: number;
  /** The header section including its blank line, or its first `max` bytes when it runs longer; unset until then. */
  block?: Buffer;
  /** The header section (with its blank line) is longer than `max`: `block` holds only its start. */
  overflowed = false;

  constructor(max: number) {
    this.max = max;
    this.buf = Buffer.alloc(0);
  }

  /** The bytes gathered so far (what stands for the header section of a message that ended inside it). */
  get gathered(): Buffer { return this.block ?? this.buf.subarray(0, this.len); }

  add(chunk: Buffer): void {
    if (this.block) return;
    if (this.len === 0) {
      // Nearly always the whole header section is in the first chunk: then nothing is copied.
      const end = headerEnd(chunk);
      if (end >= 0) { this.close(chunk, end); return; }
    }
    const before = this.len;
    this.append(chunk);
    const end = this.endAfter(before);
    if (end >= 0) this.close(this.buf, end);
    else if (this.len > this.max) this.close(this.buf, this.len);
  }

  /** The section ends at `end` of `from` (or has run past `max` without an end): kept whole up to `max` bytes. */
  private close(from: Buffer, end: number): void {
    this.overflowed = end > this.max;
    this.block = from.subarray(0, Math.min(end, this.max));
  }

  /** Where the header section ends (after its blank line), looking only at what can be new since `before` bytes. */
  private endAfter(before: number): number {
    const b = this.buf.subarray(0, this.len);
    if (before < 2 && b.length >= 2 && b[0] === 0x0d && b[1] === 0x0a) return 2; // no header fields at all
    const i = b.indexOf('\r\n\r\n', Math.max(0, before - 3));
    return i < 0 ? -1 : i + 4;
  }

  private append(chunk: Buffer): void {
    if (this.len + chunk.length > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + chunk.length, 4096));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    chunk.copy(this.buf, this.len);
    this.len += chunk.length;
  }
}

// Rewrites bare CR and bare LF in DATA to CRLF, or reports them, so no end-of-data sequence can be smuggled past us.
import { Transform, type TransformCallback } from 'node:stream';

const LF = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');

export class LineNormalizer extends Transform {
  /** A bare CR or LF was seen. */
  sawBareLineEnd = false;
  private readonly rewrite: boolean;
  /** The previous chunk ended with CR: its LF may start this one. */
  private pendingCr = false;

  constructor(rewrite: boolean) {
    super();
    this.rewrite = rewrite;
  }

  /** True when every line end in `chunk` is a CRLF (a CR at its very end may be completed by the next chunk). */
  private isClean(chunk: Buffer): boolean {
    if (this.pendingCr && chunk[0] !== 0x0a) return false;
    // Native indexOf scans keep the common case (a clean chunk) off a per-byte JavaScript loop.
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) {
      if (i === 0 ? !this.pendingCr : chunk[i - 1] !== 0x0d) return false;
    }
    for (let i = chunk.indexOf(0x0d); i >= 0; i = chunk.indexOf(0x0d, i + 1)) {
      if (i + 1 < chunk.length && chunk[i + 1] !== 0x0a) return false;
    }
    return true;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (chunk.length === 0) { cb(); return; }
    if (this.isClean(chunk)) {
      this.pendingCr = chunk[chunk.length - 1] === 0x0d;
      cb(null, chunk);
      return;
    }
    const parts: Buffer[] = [];
    let start = 0;
    let i = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (chunk[0] === 0x0a) i = 1; // completes the CRLF the previous chunk began
      else { this.sawBareLineEnd = true; if (this.rewrite) parts.push(LF); }
    }
    for (; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === 0x0d) {
        if (i + 1 === chunk.length) { this.pendingCr = true; break; }
        if (chunk[i + 1] === 0x0a) { i++; continue; }
        this.sawBareLineEnd = true;
        if (this.rewrite) { parts.push(chunk.subarray(start, i + 1), LF); start = i + 1; }
      } else if (c === 0x0a && (i === 0 || chunk[i - 1] !== 0x0d)) {
        this.sawBareLineEnd = true;
        if (this.rewrite) { parts.push(chunk.subarray(start, i), CRLF); start = i + 1; }
      }
    }
    if (parts.length === 0) { cb(null, chunk); return; }
    parts.push(chunk.subarray(start));
    cb(null, Buffer.concat(parts));
  }

  override _flush(cb: TransformCallback): void {
    if (this.pendingCr) { this.sawBareLineEnd = true; if (this.rewrite) this.push(LF); }
    cb();
  }
}

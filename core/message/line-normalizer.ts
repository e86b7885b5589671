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

/**
 * `raw` with every bare CR and bare LF made a CRLF, for a whole message a plugin hands over (`ctx.rewriteMessage`).
 * Always rewritten, whatever `smtp.bare_lf` says: the client did not send these bytes, and a strict next hop (Postfix
 * with `smtpd_forbid_bare_newline`) would refuse them after our 250. The same buffer comes back when it is clean.
 */
export function crlfLineEnds(raw: Buffer): Buffer {
  // Where a bare line end stands: a CR gets an LF after it, an LF a CR before it. Native scans, each resumed only
  // past what it found, so a clean message costs no per-byte loop, and one with no CR at all is not scanned to its end
  // for one at every line.
  const bare: number[] = [];
  let cr = raw.indexOf(0x0d);
  let lf = raw.indexOf(0x0a);
  while (cr >= 0 || lf >= 0) {
    if (cr >= 0 && (lf < 0 || cr < lf)) {
      if (lf !== cr + 1) bare.push(cr);
      else lf = raw.indexOf(0x0a, lf + 1); // a CRLF
      cr = raw.indexOf(0x0d, cr + 1);
    } else {
      bare.push(lf);
      lf = raw.indexOf(0x0a, lf + 1);
    }
  }
  if (bare.length === 0) return raw;
  const out = Buffer.allocUnsafe(raw.length + bare.length);
  let from = 0;
  let to = 0;
  for (const at of bare) {
    if (raw[at] === 0x0d) {
      to += raw.copy(out, to, from, at + 1);
      out[to++] = 0x0a;
    } else {
      to += raw.copy(out, to, from, at);
      out[to++] = 0x0d;
      out[to++] = 0x0a;
    }
    from = at + 1;
  }
  raw.copy(out, to, from);
  return out;
}

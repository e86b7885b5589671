// Streaming quoted-printable and base64 encoders for the 7-bit downgrade of a MIME leaf (RFC 2045 §6.7, §6.8).
// Both reproduce the leaf's bytes exactly when decoded: line breaks of the original are CRLF hard breaks, and a
// lone CR or LF is written as =0D / =0A so that it comes back as it was.
// No encoded line begins with "-", "." or "From ": decoded content may hold "--boundary" of the enclosing multipart
// (smuggled in as "=2D-boundary"), and a literal one would end the part and open a new one no check ever saw.

export interface LeafEncoder {
  /** Encodes the next bytes of the body; returns what can be written already. */
  write(chunk: Buffer): Buffer;
  /** The rest, at the end of the body. */
  end(): Buffer;
}

const CR = 0x0d, LF = 0x0a, SP = 0x20, TAB = 0x09, EQ = 0x3d, DASH = 0x2d, DOT = 0x2e;
/** "From ": a line opening with it is mangled by mbox stores (">From "), so its F is encoded. */
const FROM = Buffer.from('From ', 'latin1');
const HEX = Buffer.from('0123456789ABCDEF', 'latin1');
/** Characters before a soft line break ("=" makes the 76th, the RFC 2045 maximum). */
const QP_MAX = 75;

export class QuotedPrintableEncoder implements LeafEncoder {
  // Bytes, not strings: a token string per input byte made a 24 MB part cost seconds, most of it garbage collection.
  private out = Buffer.allocUnsafe(0);
  private len = 0;
  private col = 0;
  /** A space or tab not yet written: encoded if a line break or the end follows, literal otherwise. */
  private heldSpace = -1;
  /** A CR not yet written: a hard line break if LF follows, else =0D. */
  private heldCR = false;
  /** How many bytes of "From " are held at the start of an output line, until it is known whether they are that. */
  private fromHeld = 0;

  /** Room for `n` more bytes of output. */
  private room(n: number): void {
    if (this.len + n <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.len + n, this.out.length * 2, 1024));
    this.out.copy(grown, 0, 0, this.len);
    this.out = grown;
  }

  private put(b: number): void { this.out[this.len++] = b; }

  private breakLine(soft: boolean): void {
    this.room(3);
    if (soft) this.put(EQ);
    this.put(CR);
    this.put(LF);
    this.col = 0;
  }

  /** Makes room on the line for a token of `width` characters. */
  private fit(width: number): void {
    if (this.col + width > QP_MAX) this.breakLine(true);
  }

  private encoded(b: number): void {
    this.fit(3);
    this.room(3);
    this.put(EQ);
    this.put(HEX[b >> 4]);
    this.put(HEX[b & 15]);
    this.col += 3;
  }

  private flushSpace(beforeBreak: boolean): void {
    if (this.heldSpace < 0) return;
    const b = this.heldSpace;
    this.heldSpace = -1;
    if (beforeBreak) this.encoded(b); else this.literal(b);
  }

  /** The next literal character would open an output line, after a hard break, a soft one, or one it causes. */
  private atLineStart(): boolean { return this.col === 0 || this.col + 1 > QP_MAX; }

  private literal(b: number): void {
    if ((b === DASH || b === DOT) && this.atLineStart()) { this.encoded(b); return; }
    this.fit(1);
    this.room(1);
    this.put(b);
    this.col += 1;
  }

  write(chunk: Buffer): Buffer {
    // Most bytes take one output byte; the rest grow the buffer as they come.
    this.room(chunk.length + (chunk.length >> 5) + 8);
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      // Mid-line, with nothing held, a plain character is written as it is: most bytes of a text take this way.
      const plain = b > 0x20 && b < 0x7f && b !== EQ;
      if (plain && this.col > 0 && this.col < QP_MAX && this.fromHeld === 0 && !this.heldCR && this.heldSpace < 0 && this.len < this.out.length) {
        this.out[this.len++] = b;
        this.col += 1;
      } else {
        this.step(b);
      }
    }
    return this.take();
  }

  private step(b: number): void {
    if (this.fromHeld > 0) {
      if (b === FROM[this.fromHeld]) {
        if (++this.fromHeld < FROM.length) return;
        this.fromHeld = 0;
        this.encoded(FROM[0]);
        for (let k = 1; k < FROM.length - 1; k++) this.literal(FROM[k]);
        // The space itself goes the usual way below: held, then encoded if a line break follows.
      } else {
        this.releaseFrom();
      }
    }
    if (this.heldCR) {
      this.heldCR = false;
      if (b === LF) { this.breakLine(false); return; }
      this.encoded(CR);
    }
    if (b === CR) { this.flushSpace(true); this.heldCR = true; return; }
    if (b === SP || b === TAB) { this.flushSpace(false); this.heldSpace = b; return; }
    if (b === LF) { this.flushSpace(true); this.encoded(LF); return; }
    this.flushSpace(false);
    if (b === FROM[0] && this.atLineStart()) { this.fromHeld = 1; return; }
    if (b > 0x20 && b < 0x7f && b !== EQ) this.literal(b);
    else this.encoded(b);
  }

  /** The held start of a line that turned out not to be "From ", written as it came. */
  private releaseFrom(): void {
    const n = this.fromHeld;
    this.fromHeld = 0;
    for (let k = 0; k < n; k++) this.literal(FROM[k]);
  }

  end(): Buffer {
    this.releaseFrom();
    // Whitespace at the very end of a body may be dropped in transport, so it is encoded.
    this.flushSpace(true);
    if (this.heldCR) { this.heldCR = false; this.encoded(CR); }
    return this.take();
  }

  private take(): Buffer {
    const b = Buffer.from(this.out.subarray(0, this.len));
    this.len = 0;
    return b;
  }
}

/** Input bytes per 76-character base64 line. */
const B64_LINE = 57;

export class Base64Encoder implements LeafEncoder {
  private pending: Buffer = Buffer.alloc(0);
  private first = true;

  private lines(data: Buffer, all: boolean): Buffer {
    const whole = all ? data.length : data.length - (data.length % B64_LINE);
    const parts: string[] = [];
    for (let i = 0; i < whole; i += B64_LINE) {
      parts.push((this.first ? '' : '\r\n') + data.subarray(i, Math.min(i + B64_LINE, whole)).toString('base64'));
      this.first = false;
    }
    this.pending = Buffer.from(data.subarray(whole));
    return Buffer.from(parts.join(''), 'latin1');
  }

  write(chunk: Buffer): Buffer {
    return this.lines(this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk, false);
  }

  end(): Buffer { return this.lines(this.pending, true); }
}

/** `bytes` whole in quoted-printable or base64 lines, as a latin1 string: for a body small enough to encode in one go. */
export function encodeWhole(cte: 'base64' | 'quoted-printable', bytes: Buffer): string {
  const encoder: LeafEncoder = cte === 'base64' ? new Base64Encoder() : new QuotedPrintableEncoder();
  return Buffer.concat([encoder.write(bytes), encoder.end()]).toString('latin1');
}

// Quoted-printable decoded as it streams, to the same bytes as mailparser's decoder (libqp). That one holds a whole
// part and decodes it in one call: a 20 MB part with a soft line break every two bytes held the event loop half a
// second, and a run of spaces that no line break ends costs it time by the square of the run (100,000 spaces: 36 s).
//
// libqp's reading, done here in three steps with a few bytes of look-ahead each:
// 1. spaces and tabs right before a CR, an LF or the end are dropped;
// 2. `=` before CRLF, LF or the end is a soft line break, dropped with its line break;
// 3. `=` and two hex digits is the byte they spell; any other byte is itself.

const SP = 0x20, TAB = 0x09, CR = 0x0d, LF = 0x0a, EQ = 0x3d;

/** Step 2: nothing held, an `=` held, `=` and CR held. */
const NONE = 0, EQUALS = 1, EQUALS_CR = 2;
/** Step 3 holds nothing, or an `=`; a hex digit after the `=` is held as its value (0-15). */
const NO_ESCAPE = -2, ESCAPE = -1;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

export class QuotedPrintableStream {
  /** Step 1: spaces and tabs not yet known to be before a line break (a run may span chunks). */
  private blanks: Buffer[] = [];
  private blankBytes = 0;
  private soft = NONE;
  private escape = NO_ESCAPE;
  private digit = 0;
  private out = Buffer.alloc(0);
  private n = 0;

  /** The bytes `chunk` decodes to, as far as the bytes so far tell; call `end()` after the last chunk. */
  decode(chunk: Buffer): Buffer {
    // Nothing comes out longer than it went in: room for this chunk and what earlier ones held back.
    this.out = Buffer.allocUnsafe(chunk.length + this.blankBytes + 4);
    this.n = 0;
    let run = -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === SP || c === TAB) {
        if (run < 0) run = i;
        continue;
      }
      if (run >= 0 || this.blankBytes) {
        if (c === CR || c === LF) this.dropBlanks();
        else this.releaseBlanks(chunk, run < 0 ? i : run, i);
        run = -1;
      }
      this.step2(c);
    }
    if (run >= 0) {
      // A copy: a slice would keep the whole chunk alive while the run waits.
      this.blanks.push(Buffer.from(chunk.subarray(run)));
      this.blankBytes += chunk.length - run;
    }
    return this.out.subarray(0, this.n);
  }

  /** What the held bytes decode to at the end of the part. */
  end(): Buffer {
    this.out = Buffer.allocUnsafe(4);
    this.n = 0;
    this.dropBlanks();
    // `=` at the end is a soft break; `=` and CR is not.
    if (this.soft === EQUALS_CR) { this.step3(EQ); this.step3(CR); }
    this.soft = NONE;
    if (this.escape === ESCAPE) this.emit(EQ);
    else if (this.escape >= 0) { this.emit(EQ); this.emit(this.digit); }
    this.escape = NO_ESCAPE;
    return this.out.subarray(0, this.n);
  }

  private dropBlanks(): void {
    this.blanks = [];
    this.blankBytes = 0;
  }

  /** The held spaces and tabs, then those of `chunk` from `from` to `to`, are text after all. */
  private releaseBlanks(chunk: Buffer, from: number, to: number): void {
    for (const piece of this.blanks) for (const c of piece) this.step2(c);
    for (let k = from; k < to; k++) this.step2(chunk[k]);
    this.dropBlanks();
  }

  private step2(c: number): void {
    if (this.soft === EQUALS) {
      if (c === LF) { this.soft = NONE; return; }
      if (c === CR) { this.soft = EQUALS_CR; return; }
      this.step3(EQ);
      // `==`: the second may still start a soft break.
      if (c === EQ) return;
      this.soft = NONE;
      this.step3(c);
      return;
    }
    if (this.soft === EQUALS_CR) {
      if (c === LF) { this.soft = NONE; return; }
      this.soft = NONE;
      this.step3(EQ);
      this.step3(CR);
    }
    if (c === EQ) { this.soft = EQUALS; return; }
    this.step3(c);
  }

  private step3(c: number): void {
    if (this.escape === NO_ESCAPE) {
      if (c === EQ) this.escape = ESCAPE;
      else this.emit(c);
      return;
    }
    const v = hexValue(c);
    if (this.escape === ESCAPE) {
      if (v >= 0) { this.escape = v; this.digit = c; return; }
      // Not an escape: the `=` is itself, and `c` is read afresh (it may be an `=`).
      this.emit(EQ);
      this.escape = NO_ESCAPE;
      this.step3(c);
      return;
    }
    if (v >= 0) {
      this.emit((this.escape << 4) | v);
      this.escape = NO_ESCAPE;
      return;
    }
    this.emit(EQ);
    this.emit(this.digit);
    this.escape = NO_ESCAPE;
    this.step3(c);
  }

  private emit(c: number): void {
    this.out[this.n++] = c;
  }
}

// Keeps every outgoing line within SMTP's 998 octets (RFC 5321 §4.5.3.1.6) as Postfix's smtp_line_length_limit does:
// a longer line is broken by inserting CRLF SPACE. In the header section that makes the rest a continuation line of the
// same field (RFC 5322 §2.2.3); in a body it is the least damage to MIME a break can do. Lines within the limit, nearly
// all mail, go out byte for byte.

/** Octets of a line, its CRLF not counted. */
export const SMTP_LINE_LIMIT = 998;

const FOLD = Buffer.from('\r\n ');

/**
 * Breaks long lines across a stream of chunks. The client dot-stuffs after this; a line that starts with a dot gets
 * one octet less before its first break, so the stuffed line on the wire stays within the limit too (the RFC does not
 * count that dot, a strict reader might). A continuation line starts with the space, never with a dot.
 */
export class LineLengthLimit {
  /** Octets of the current output line so far. */
  private column = 0;
  /** The current line started with a dot: its first break comes one octet early. */
  private dotted = false;
  private readonly limit: number;

  constructor(limit = SMTP_LINE_LIMIT) { this.limit = limit; }

  push(chunk: Buffer): Buffer {
    if (this.noBreakIn(chunk)) return chunk;
    let parts: Buffer[] | undefined;
    let from = 0;
    for (let i = 0; i < chunk.length;) {
      if (this.column === 0 && chunk[i] === 0x2e) this.dotted = true;
      const lf = chunk.indexOf(0x0a, i);
      let stop = lf < 0 ? chunk.length : lf;
      // The CR of the line's CRLF is not content: a break must never fall between it and its LF. Stored mail has no
      // bare CR (intake rewrites them), so a CR ending a chunk is taken as the first half of a CRLF split across two.
      if (stop > i && chunk[stop - 1] === 0x0d) stop--;
      for (;;) {
        const room = this.limit - (this.dotted ? 1 : 0) - this.column;
        if (stop - i <= room) break;
        const cut = i + room;
        (parts ??= []).push(chunk.subarray(from, cut), FOLD);
        from = i = cut;
        this.column = 1;
        this.dotted = false;
      }
      if (lf < 0) { this.column += stop - i; break; }
      this.column = 0;
      this.dotted = false;
      i = lf + 1;
    }
    if (!parts) return chunk;
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
  }

  /**
   * True when no line of `chunk` can need a break, judged with an octet to spare (a dotted line's), and then the state
   * is moved to the chunk's end. A few native scans a chunk, each reaching back from a limit's length ahead to the last
   * line end, where push's own walk takes one a line (a 4 KB message has some fifty): nearly all mail is decided here.
   */
  private noBreakIn(chunk: Buffer): boolean {
    const first = chunk.indexOf(0x0a);
    // The line under way (or the whole chunk, when it ends none) is left to push's walk.
    if (first < 0 || first > this.limit - 1 - this.column) return false;
    let start = first + 1;
    while (chunk.length - start > this.limit) {
      const lf = chunk.lastIndexOf(0x0a, start + this.limit - 1);
      if (lf < start) return false;
      start = lf + 1;
    }
    const lf = chunk.lastIndexOf(0x0a);
    if (lf >= start) start = lf + 1;
    // What follows the last line end goes on in the next chunk, as push's walk leaves it (a CR there is not counted).
    const tail = chunk.length - start;
    if (tail > this.limit - 1) return false;
    this.column = tail > 0 && chunk[chunk.length - 1] === 0x0d ? tail - 1 : tail;
    this.dotted = tail > 0 && chunk[start] === 0x2e;
    return true;
  }
}

// The empty line that ends a message's header section, put in where the client left it out, as Postfix's cleanup does.
//
// Why: our Received and verdict fields go in front of the message. A message that starts with text that is no header
// field (`just text`), or whose fields run straight into the body (`Subject: x\r\nbody text`), would then have its first
// body line read as a malformed field, and readers show an empty body. Done on the way into the spool, so the stored
// bytes, what plugins parse and what the smarthost gets are one and the same message.
import type { ChunkStep } from '../message/spool-writer.ts';

const CR = 0x0d, LF = 0x0a, SP = 0x20, HT = 0x09, COLON = 0x3a;
const CRLF = Buffer.from('\r\n');
/** A field name longer than a whole line may be (RFC 5322 §2.1.1) is no field name. */
const MAX_NAME = 998;

type State = 'line-start' | 'in-field' | 'body';
type LineKind = 'field' | 'empty' | 'body' | 'undecided';

/** RFC 5322 §3.6.8 ftext: printable ASCII except the colon. */
function isFtext(b: number): boolean { return b >= 0x21 && b <= 0x7e && b !== COLON; }

/**
 * A step of the spool (spoolData's afterLineEnds), called on each chunk as it is stored: a stream stage of its own
 * cost the per-message path a Transform, a pipe and their events for a few bytes' look at the header section.
 */
export class HeaderSectionEnd implements ChunkStep {
  private state: State = 'line-start';
  /** The start of a line not yet known to be a field or not, kept until the next chunk tells. */
  private held?: Buffer;

  /**
   * What the line starting at `i` is: a header field (or a folded line of one), the empty line, the body, or not yet
   * known. The header section is judged as the relay's field filter (core/message/header-filter.ts) and the parsed
   * view read it, so that a line the filter treats as a field is never pushed into the body, nor the other way round.
   */
  private kind(buf: Buffer, i: number): LineKind {
    const first = buf[i];
    if (first === CR || first === LF) return 'empty';
    // A folded line continues the field before it. One that opens the message continues none: the relay drops it
    // rather than let it fold into the last field the gateway prepends, so it stays in the header section here.
    if (first === SP || first === HT) return 'field';
    let j = i;
    while (j < buf.length && isFtext(buf[j])) j++;
    if (j - i > MAX_NAME) return 'body';
    if (j === buf.length) return 'undecided';
    if (j === i) return 'body';
    // `Subject : x` (RFC 5322 §4.5.3's obsolete space before the colon) is still a field.
    while (j < buf.length && (buf[j] === SP || buf[j] === HT)) j++;
    if (j === buf.length) return j - i > MAX_NAME ? 'body' : 'undecided';
    if (buf[j] === COLON) return 'field';
    if (buf[j] !== CR && buf[j] !== LF) return 'body';
    // A name alone on its line, its colon on the folded line below (`X-Mailmoat-Spam` then ` : No`): readers that
    // unfold first see a field there, and so does the relay's filter.
    const lf = buf.indexOf(LF, j);
    if (lf < 0) return 'undecided';
    let k = lf + 1;
    if (k < buf.length && buf[k] !== SP && buf[k] !== HT) return 'body';
    while (k < buf.length && (buf[k] === SP || buf[k] === HT)) k++;
    if (k === buf.length) return k - i > 2 * MAX_NAME ? 'body' : 'undecided';
    return buf[k] === COLON ? 'field' : 'body';
  }

  take(chunk: Buffer, emit: (bytes: Buffer) => void): void {
    if (this.state === 'body') { emit(chunk); return; }
    const buf = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    let i = 0;
    while (i < buf.length && this.state !== 'body') {
      if (this.state === 'in-field') {
        const lf = buf.indexOf(LF, i);
        if (lf < 0) { i = buf.length; break; }
        i = lf + 1;
        this.state = 'line-start';
        continue;
      }
      const kind = this.kind(buf, i);
      if (kind === 'field') { this.state = 'in-field'; continue; }
      if (kind === 'undecided') {
        if (i > 0) emit(buf.subarray(0, i));
        this.held = Buffer.from(buf.subarray(i));
        return;
      }
      this.state = 'body';
      if (kind === 'body') {
        if (i > 0) emit(buf.subarray(0, i));
        emit(CRLF);
        emit(buf.subarray(i));
        return;
      }
    }
    if (buf.length > 0) emit(buf);
  }

  end(emit: (bytes: Buffer) => void): void {
    // Still undecided at the end: a name alone on the last line, with no folded line to bring its colon. No field.
    if (this.held) { emit(CRLF); emit(this.held); }
    this.held = undefined;
  }
}

// Transport padding on boundary delimiter lines, for the parser's copy of a message. RFC 2046 §5.1.1 lets a delimiter
// line (`--BB`, `--BB--`) end in spaces and tabs and tells receivers to ignore them; Python's email package and the
// gateway's own part reader (mime-leaves.ts) do, mailsplit (under mailparser) does not. A part opened by a padded line
// was then text of the part before it to every check, and an attachment to the recipient's mail program: an .exe
// passed every attachment rule. The parse reads the message through this filter, which drops the padding of a
// delimiter line whose boundary some Content-Type field declared; the message relayed keeps every byte.
import { Transform, type TransformCallback } from 'node:stream';
import { parseMimeValue } from './mime-params.ts';

const LF = 0x0a, CR = 0x0d, SP = 0x20, TAB = 0x09, DASH = 0x2d;
/** A line longer than this is no delimiter (a boundary has at most 70 characters; mailsplit takes longer ones). */
const DELIMITER_MAX_LINE = 1024;
/** A Content-Type field longer than this is not read for its boundary. */
const FIELD_MAX_BYTES = 64 * 1024;
/** Boundaries remembered per message: a message declaring more is read with the padding of later ones left alone. */
const BOUNDARIES_MAX = 10_000;
const CONTENT_TYPE = /^content-type[ \t]*:/i;

/** Every boundary a Content-Type value may be read to declare: each `boundary` given, and its RFC 2231 sections joined. */
function declaredBoundaries(value: string): string[] {
  const all = parseMimeValue(value).all;
  const plain = all.filter(([n]) => n === 'boundary' || n === 'boundary*').map(([, v]) => v);
  const sections = all.filter(([n]) => /^boundary\*\d+\*?$/.test(n)).map(([, v]) => v);
  return sections.length ? [...plain, sections.join('')] : plain;
}

export class DelimiterPadding extends Transform {
  /** A delimiter line of a declared boundary ended in white space (the parse read it without). */
  padded = false;
  private readonly boundaries = new Set<string>();
  /** The start of a line not yet passed on: one that may be a delimiter or a Content-Type field, or part of one. */
  private held: Buffer = Buffer.alloc(0);
  /** The rest of the current line goes on as it is (it is too long to matter). */
  private passing = false;
  /** The Content-Type field being read (its lines so far), while its continuation lines may still come. */
  private field?: string;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    const out: Buffer[] = [];
    let runStart = 0;
    let pos = 0;
    if (this.passing) {
      const lf = data.indexOf(LF);
      if (lf < 0) { done(null, data); return; }
      this.passing = false;
      pos = lf + 1;
    }
    while (pos < data.length) {
      const lf = data.indexOf(LF, pos);
      if (lf < 0) {
        // An incomplete line is held only while it may still matter, and only so long.
        const left = data.length - pos;
        const mayBeField = this.field !== undefined || data[pos] === 0x43 || data[pos] === 0x63;
        if (left <= DELIMITER_MAX_LINE || (mayBeField && left <= FIELD_MAX_BYTES)) {
          out.push(data.subarray(runStart, pos));
          this.held = Buffer.from(data.subarray(pos));
          runStart = data.length;
        } else { this.endField(); this.passing = true; }
        break;
      }
      const replaced = this.line(data, pos, lf + 1);
      if (replaced) {
        out.push(data.subarray(runStart, pos), replaced);
        runStart = lf + 1;
      }
      pos = lf + 1;
    }
    if (runStart < data.length) out.push(data.subarray(runStart));
    done(null, out.length === 1 ? out[0] : Buffer.concat(out));
  }

  override _flush(done: TransformCallback): void {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    this.endField();
    done(null, rest.length ? (this.unpadded(rest, 0, rest.length) ?? rest) : undefined);
  }

  /** Notes what the line from `start` to `end` (past its LF) declares; the line without its padding when it is a padded delimiter. */
  private line(data: Buffer, start: number, end: number): Buffer | undefined {
    const first = data[start];
    if (this.field !== undefined) {
      if ((first === SP || first === TAB) && this.field.length + end - start <= FIELD_MAX_BYTES) {
        this.field += data.toString('latin1', start, end);
        return undefined;
      }
      this.endField();
    }
    if ((first === 0x43 || first === 0x63) && CONTENT_TYPE.test(data.toString('latin1', start, Math.min(end, start + 20)))) {
      this.field = data.toString('latin1', start, end);
      return undefined;
    }
    if (first === DASH && data[start + 1] === DASH && end - start <= DELIMITER_MAX_LINE) return this.unpadded(data, start, end);
    return undefined;
  }

  /** The delimiter line from `start` to `end` without the spaces and tabs before its line break; undefined when it is not one or has none. */
  private unpadded(data: Buffer, start: number, end: number): Buffer | undefined {
    let stop = end;
    if (stop > start && data[stop - 1] === LF) stop--;
    if (stop > start && data[stop - 1] === CR) stop--;
    let text = stop;
    while (text > start && (data[text - 1] === SP || data[text - 1] === TAB)) text--;
    if (text === stop) return undefined;
    const value = data.toString('latin1', start + 2, text);
    const boundary = value.endsWith('--') && !this.boundaries.has(value) ? value.slice(0, -2) : value;
    if (!this.boundaries.has(boundary)) return undefined;
    this.padded = true;
    return Buffer.concat([data.subarray(start, text), data.subarray(stop, end)]);
  }

  private endField(): void {
    if (this.field === undefined) return;
    const value = this.field.slice(this.field.indexOf(':') + 1).replace(/\r?\n/g, '');
    this.field = undefined;
    for (const b of declaredBoundaries(value)) if (this.boundaries.size < BOUNDARIES_MAX) this.boundaries.add(b);
  }
}

// smtp-server's DATA parser, with its search for "<LF>." done by Buffer#indexOf instead of a loop over every byte,
// and RFC 5321 §4.5.2's rule for a dot at the start of a line.
//
// Why indexOf: the byte loop was the largest single cost of receiving a 100 KB message (about 14% of the gateway's
// CPU in `npm run bench -- --case=100k20`).
//
// The dot: a line that begins with a dot and holds more has that dot deleted, whatever follows it (`.x` is `x`), as
// Postfix and Haraka read it; smtp-server deleted it only before a second dot, so `.x` reached the next hop as `.x`.
// A line start is after any LF, as smtp-server has it and as the relay stuffs (core/relay/smtp-client.ts). What is
// not deleted, and does not end the message: a dot alone on a line that is not CRLF-framed on both sides (`\n.\n`,
// `\r\n.\n`, `\n.\r\n`), which no conforming client sends unstuffed; the message ends only at `\r\n.\r\n`, so a bare
// line end can neither end DATA nor split a message in two (SMTP smuggling). test/core/smtp/data-scan.test.ts feeds
// random chunkings through this and a whole-message reading of the same rule and compares everything they emit.
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

interface DataParser {
  _dataStream: { writable: boolean; destroyed: boolean; write(b: Buffer): boolean; once(e: string, f: () => void): void; removeListener(e: string, f: () => void): void };
  _lastBytes: Buffer | false;
  _atDataStart: boolean;
  _countDataBytes(n: number): void;
  _endDataMode(chunk: Buffer | false, remainder: Buffer, done: () => void): void;
  _feedDataStream(chunk: Buffer, done: () => void): void;
}

const LF_DOT = Buffer.from('\n.');
const CR = 0x0d, LF = 0x0a, DOT = 0x2e;

/**
 * What a dot at a line start does, from the bytes after it (`next`, `then`; undefined when not yet received):
 * `end` (it ends the message; only when its line began with CRLF), `keep` (a lone dot on a bare-LF line),
 * `delete`, or `wait` for more bytes.
 */
function dotAt(afterCrLf: boolean, next: number | undefined, then: number | undefined): 'end' | 'keep' | 'delete' | 'wait' {
  if (next === undefined) return 'wait';
  if (next === LF) return 'keep';
  if (next !== CR) return 'delete';
  if (then === undefined) return 'wait';
  if (then !== LF) return 'delete';
  return afterCrLf ? 'end' : 'keep';
}

/** The replacement method; exported so the test can run it against a reading of the whole message. */
export function feedDataStream(this: DataParser, input: Buffer, done: () => void): void {
  const out = this._dataStream;
  let chunk = input;
  if (this._lastBytes && this._lastBytes.length) {
    chunk = Buffer.concat([this._lastBytes, chunk], this._lastBytes.length + chunk.length);
    this._lastBytes = false;
  }
  let len = chunk.length;
  // The first line: a lone dot ends an empty message, only before any payload byte was consumed.
  if (this._atDataStart && len >= 1 && chunk[0] === DOT) {
    const first = dotAt(true, chunk[1], chunk[2]);
    if (first === 'end') { this._endDataMode(false, chunk.subarray(3), done); return; }
    if (first === 'wait') { this._lastBytes = chunk; done(); return; }
    if (first === 'delete') {
      chunk = chunk.subarray(1);
      len--;
      this._atDataStart = false;
    }
  }
  // A dot at a line start whose next two bytes are here (the last ones wait in _lastBytes). One right after a chunk's
  // first byte was judged already when it came last but 3 of the chunk before (the same bytes, the same decision),
  // or the LF is the message's first byte.
  for (let lf = chunk.indexOf(LF_DOT); lf >= 0 && lf + 1 <= len - 3; lf = chunk.indexOf(LF_DOT, lf + 1)) {
    const dot = lf + 1;
    const what = dotAt(lf >= 1 && chunk[lf - 1] === CR, chunk[dot + 1], chunk[dot + 2]);
    if (what === 'end') {
      const body = chunk.subarray(0, dot);
      this._countDataBytes(body.length);
      this._endDataMode(body, chunk.subarray(dot + 3), done);
      return;
    }
    if (what === 'delete') {
      const before = chunk.subarray(0, dot);
      this._lastBytes = false;
      this._countDataBytes(before.length);
      if (out.writable) out.write(before);
      const rest = chunk.subarray(dot + 1);
      setImmediate(() => this._feedDataStream(rest, done));
      return;
    }
  }
  this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
  if (this._lastBytes.length >= chunk.length) { done(); return; }
  const emit = chunk.subarray(0, chunk.length - this._lastBytes.length);
  this._countDataBytes(emit.length);
  if (!out.writable || out.write(emit) || out.destroyed) { done(); return; }
  // Wait for the consumer; a stream the application destroys never drains, it only closes.
  const resume = () => { out.removeListener('drain', resume); out.removeListener('close', resume); done(); };
  out.once('drain', resume);
  out.once('close', resume);
}

/** The bytes of the message `parser` has read so far, with those it holds back to find the end of DATA. */
export function dataBytesRead(parser: unknown): number {
  const p = parser as { dataBytes?: number; _lastBytes?: Buffer | false } | undefined;
  return (p?.dataBytes ?? 0) + (p?._lastBytes ? p._lastBytes.length : 0);
}

let applied = false;

export function applyFastDataScan(): void {
  if (applied) return;
  applied = true;
  (SMTPStream.prototype as unknown as DataParser)._feedDataStream = feedDataStream;
}

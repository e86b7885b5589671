// Every quoted-printable part reaches mailparser as base64 of the same bytes, decoded here as the part streams
// (qp-stream.ts): mailparser's own decoder holds a whole part and decodes it in one synchronous call, which held
// the event loop for half a second on a 20 MB part and for minutes on a long run of spaces. Base64 it decodes as the
// part streams, and base64 lines can hold no boundary, so the structure mailparser reads is the one sent.
import { Transform, type TransformCallback } from 'node:stream';
import type { MimeNode } from '@zone-eu/mailsplit';
import { QuotedPrintableStream } from './qp-stream.ts';

/** Encoded bytes gathered before they are decoded: the splitter passes a body on line by line. */
const BATCH_BYTES = 64 * 1024;
/** Decoded bytes per base64 line (76 characters, as RFC 2045 §6.8 has them). */
const LINE_BYTES = 57;

type Chunk = MimeNode | { type: 'data' | 'body'; value: Buffer; node: MimeNode };

interface Rewriting {
  node: MimeNode;
  decoder: QuotedPrintableStream;
  batch: Buffer[];
  batchBytes: number;
  /** Decoded bytes short of a whole base64 line. */
  rest: Buffer;
  /** A line has been written: the next one starts with a line break. */
  wrote: boolean;
}

function isQuotedPrintableLeaf(node: MimeNode): boolean {
  return !node.multipart && node.encoding === 'quoted-printable';
}

export class QuotedPrintableAsBase64 extends Transform {
  private current?: Rewriting;

  constructor() { super({ objectMode: true }); }

  override _transform(chunk: Chunk, _enc: BufferEncoding, done: TransformCallback): void {
    const c = this.current;
    if (c && chunk.type === 'body' && chunk.node === c.node) {
      c.batch.push(chunk.value);
      c.batchBytes += chunk.value.length;
      if (c.batchBytes >= BATCH_BYTES) this.decodeBatch(c, false);
      return done();
    }
    if (c) this.finish(c);
    if (chunk.type === 'node' && isQuotedPrintableLeaf(chunk)) {
      // getHeaders() parses the header lines once, which update() needs; the joiner writes them out again.
      chunk.getHeaders();
      if (chunk.headers) {
        chunk.headers.update('Content-Transfer-Encoding', 'base64');
        this.current = { node: chunk, decoder: new QuotedPrintableStream(), batch: [], batchBytes: 0, rest: Buffer.alloc(0), wrote: false };
      }
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.current) this.finish(this.current);
    done();
  }

  private finish(c: Rewriting): void {
    this.decodeBatch(c, true);
    this.current = undefined;
  }

  /** Decodes what is gathered and passes on the whole base64 lines; at the end of the part, the rest too. */
  private decodeBatch(c: Rewriting, last: boolean): void {
    const decoded = c.decoder.decode(Buffer.concat(c.batch, c.batchBytes));
    c.batch = [];
    c.batchBytes = 0;
    const bytes = Buffer.concat([c.rest, decoded, ...(last ? [c.decoder.end()] : [])]);
    const whole = last ? bytes.length : bytes.length - (bytes.length % LINE_BYTES);
    c.rest = bytes.subarray(whole);
    if (!whole) return;
    const lines: string[] = [];
    for (let at = 0; at < whole; at += LINE_BYTES) lines.push(bytes.toString('base64', at, Math.min(at + LINE_BYTES, whole)));
    // The line break after the part's last line belongs to the delimiter that follows, as it did in the part sent.
    const text = (c.wrote ? '\r\n' : '') + lines.join('\r\n');
    c.wrote = true;
    this.push({ type: 'body', value: Buffer.from(text, 'latin1'), node: c.node });
  }
}

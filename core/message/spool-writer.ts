// Streams DATA into a spool file: line ends checked, size capped while bytes arrive, header section captured.
import { closeSync, openSync, writeSync } from 'node:fs';
import { Writable, type Readable } from 'node:stream';
import { LineNormalizer } from './line-normalizer.ts';
import { HeaderCollector } from './header-collector.ts';

/** The header section a message may have unless the caller says otherwise (limits.max_header_size). */
const MAX_HEADER_BYTES = 256 * 1024;
/** Messages up to this size are also kept in memory, so the relay can send them without reading the file back. */
export const MEMORY_COPY_BYTES = 128 * 1024;

export interface SpoolResult {
  /** Bytes received (after line-end normalisation). */
  size: number;
  /** The message went over the limit; the file holds only its start and must be discarded. */
  oversized: boolean;
  sawBareLineEnd: boolean;
  /** The raw header section including the blank line (CRLF), or everything captured if no blank line came. */
  headerBlock: Buffer;
  /** The header section is larger than `maxHeaderSize`: `headerBlock` holds only its start, and the message is refused. */
  headerTooLarge: boolean;
  /** The whole message, when it is at most MEMORY_COPY_BYTES; a larger one is in the file only. */
  body?: Buffer;
}

/**
 * A step that reads the message once its line ends are CRLF (the header section's end): it gets each chunk in turn,
 * then the end, and hands on what is to be stored through `emit`, in order. Called from the spool's own writer, not
 * piped as a stream stage of its own, whose Transform and events were a share of the per-message cost.
 */
export interface ChunkStep {
  take(chunk: Buffer, emit: (bytes: Buffer) => void): void;
  end(emit: (bytes: Buffer) => void): void;
}

/**
 * Receives the DATA stream: a message up to MEMORY_COPY_BYTES stays in memory only (the queue's journal takes it
 * without a file of its own); a larger one goes to `path` as it arrives, never held in memory beyond a chunk.
 */
export async function spoolData(input: Readable, path: string, opts: { maxSize: number; maxHeaderSize?: number; rewriteBareLineEnds: boolean; afterLineEnds?: ChunkStep }): Promise<SpoolResult> {
  const normalizer = new LineNormalizer(opts.rewriteBareLineEnds);
  // A step that reads lines (the header section's end) comes after the line ends are made CRLF: a bare CR is a line
  // end only once rewritten.
  const step = opts.afterLineEnds;
  // Plain synchronous writes to the page cache: a few microseconds each, where every asynchronous file operation
  // costs a round trip through the thread pool (measured: most of the gateway's CPU per message went there).
  let fd = -1;
  const closeFile = () => { if (fd >= 0) { const f = fd; fd = -1; closeSync(f); } };
  const writeAll = (chunk: Buffer) => { for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off); };
  let size = 0;
  let oversized = false;
  const head = new HeaderCollector(opts.maxHeaderSize ?? MAX_HEADER_BYTES);
  let copy: Buffer[] | null = [];

  /** Counts, captures and keeps one chunk; an error of the file is returned, the message then failed. */
  const store = (chunk: Buffer): Error | undefined => {
    size += chunk.length;
    head.add(chunk);
    if (size > opts.maxSize) {
      // Keep reading so the client gets its 552 after the final dot, but stop storing.
      oversized = true;
      copy = null;
      return undefined;
    }
    try {
      if (copy && size <= MEMORY_COPY_BYTES) { copy.push(chunk); return undefined; }
      if (fd < 0) {
        fd = openSync(path, 'wx');
        for (const c of copy ?? []) writeAll(c);
        copy = null;
      }
      writeAll(chunk);
    } catch (err) { return err as Error; }
    return undefined;
  };
  /** What the step hands on is stored; the first error stops the storing and fails the message. */
  let failure: Error | undefined;
  const emit = (bytes: Buffer) => { if (!failure && bytes.length > 0) failure = store(bytes); };

  const sink = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _enc, cb) {
      if (!step) { cb(store(chunk)); return; }
      try { step.take(chunk, emit); } catch (err) { failure ??= err as Error; }
      cb(failure);
    },
    final(cb) {
      try { step?.end(emit); } catch (err) { failure ??= err as Error; }
      if (failure) { cb(failure); return; }
      try { closeFile(); cb(); } catch (err) { cb(err as Error); }
    },
  });

  try {
    // Piped by hand: stream/promises' pipeline builds an AbortController per call and aborts it (a DOMException with
    // a stack trace) at the end of every message.
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => { input.unpipe(normalizer); normalizer.unpipe(sink); reject(err); };
      input.once('error', fail);
      normalizer.once('error', fail);
      sink.once('error', fail);
      sink.once('finish', () => resolve());
      input.pipe(normalizer).pipe(sink);
    });
  } catch (err) {
    try { closeFile(); } catch { /* the write error is the one to report */ }
    throw err;
  }
  const body = copy && !oversized ? Buffer.concat(copy, size) : undefined;
  return { size, oversized, sawBareLineEnd: normalizer.sawBareLineEnd, headerBlock: head.gathered, headerTooLarge: head.overflowed, body };
}

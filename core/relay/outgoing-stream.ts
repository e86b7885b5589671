// The bytes that leave the gateway: the queue's prepended headers, then the spooled message minus removed headers.
// Lines over SMTP's limit are broken by the SMTP client as it writes them (line-length-limit.ts).
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { QueueEntry } from '../queue/entry.ts';
import { fieldRemoval, streamWithoutFields, withoutFields } from '../message/header-filter.ts';

/**
 * The prepended lines as bytes. formatHeader writes them one latin1 character per byte (text beyond that as encoded
 * words), but a line queued by an older version, or put together without formatHeader, may hold a character above
 * U+00FF: written as latin1 it lost all but its low byte. Such a character can only be text, and goes as UTF-8.
 */
export function prependBytes(prepend: string): Buffer {
  if (!/[^\x00-\xff]/.test(prepend)) return Buffer.from(prepend, 'latin1');
  return Buffer.from(prepend.replace(/[^\x00-\xff]+/gu, (text) => Buffer.from(text, 'utf8').toString('latin1')), 'latin1');
}

/** The size a message leaves with, for SIZE= and outbound limits: removed headers are not subtracted (a bound, not a count). */
export function outgoingSize(entry: QueueEntry): number {
  return entry.size + prependBytes(entry.prepend).length;
}

/** The message part of a queue file: its first `size` bytes (a sealed envelope may follow). */
function messageBytes(file: string, size: number, start = 0): AsyncIterable<Buffer> {
  if (size <= 0) return (async function* () { /* empty message */ })();
  return createReadStream(file, { start, end: start + size - 1, highWaterMark: 256 * 1024 });
}

/** How far a consumer read an outgoing stream: whether its first byte, and its last, were taken. */
export interface ReadProgress { started: boolean; ended: boolean }

/**
 * A stream of the outgoing message for `entry`, from `body` when the queue still holds its bytes, else from `file`
 * (at `start`: a journal segment holds many messages). `progress`, when given, follows how far it was read.
 */
export function outgoingStream(entry: QueueEntry, file: string, body?: Buffer, start = 0, progress?: ReadProgress): Readable {
  const prefix = prependBytes(entry.prepend);
  const remove = entry.remove.length ? fieldRemoval(entry.remove) : undefined;
  if (body && body.length === entry.size) {
    // Nearly all mail: a part a read, without an async generator's turns per message (and one part at a time, so that
    // a read does not join the two into a copy).
    const parts = [prefix, remove ? withoutFields(body, remove) : body].filter((b) => b.length > 0);
    const stream = new Readable({
      read() {
        if (progress) progress.started = true;
        const next = parts.shift();
        this.push(next ?? null);
      },
    });
    if (progress) stream.once('end', () => { progress.ended = true; });
    return stream;
  }
  return Readable.from((async function* () {
    if (progress) progress.started = true;
    if (prefix.length) yield prefix;
    // Opened only once read: a stream made for an attempt that ends before DATA (every recipient refused, no
    // connection) is never read, and a file opened for it stayed open, one per failed attempt, until EMFILE.
    const source = messageBytes(file, entry.size, start);
    const chunks = remove ? streamWithoutFields(source, remove) : source;
    for await (const chunk of chunks) yield chunk as Buffer;
    if (progress) progress.ended = true;
  })(), { objectMode: false });
}

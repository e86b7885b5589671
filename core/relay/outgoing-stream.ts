// The bytes that leave the gateway: the queue's prepended headers, then the spooled message minus removed headers.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { QueueEntry } from '../queue/entry.ts';
import { headerEnd, parseHeaderBlock } from '../message/header-block.ts';

/** The size a message leaves with, for SIZE= and outbound limits: removed headers are not subtracted (a bound, not a count). */
export function outgoingSize(entry: QueueEntry): number {
  return entry.size + Buffer.byteLength(entry.prepend, 'latin1');
}

function fromMemory(entry: QueueEntry, body: Buffer): Readable {
  const prefix = Buffer.from(entry.prepend, 'latin1');
  if (entry.remove.length === 0) return Readable.from([prefix, body], { objectMode: false });
  const end = headerEnd(body);
  const cut = end < 0 ? body.length : end;
  const remove = new Set(entry.remove);
  const kept = parseHeaderBlock(body.subarray(0, cut).toString('latin1')).filter((f) => !remove.has(f.name.toLowerCase())).map((f) => f.raw).join('');
  return Readable.from([prefix, Buffer.from(kept + (end < 0 ? '' : '\r\n'), 'latin1'), body.subarray(cut)], { objectMode: false });
}

/** The message part of a queue file: its first `size` bytes (a sealed envelope may follow). */
function messageBytes(file: string, size: number, start = 0): AsyncIterable<Buffer> {
  if (size <= 0) return (async function* () { /* empty message */ })();
  return createReadStream(file, { start, end: start + size - 1, highWaterMark: 256 * 1024 });
}

async function* withHeadersRemoved(file: string, size: number, start: number, remove: Set<string>): AsyncGenerator<Buffer> {
  let head: Buffer | null = Buffer.alloc(0);
  for await (const chunk of messageBytes(file, size, start)) {
    if (head === null) { yield chunk as Buffer; continue; }
    head = Buffer.concat([head, chunk as Buffer]);
    const end = headerEnd(head);
    if (end < 0 && head.length < 1024 * 1024) continue;
    const cut = end < 0 ? head.length : end;
    const kept = parseHeaderBlock(head.subarray(0, cut).toString('latin1'))
      .filter((f) => !remove.has(f.name.toLowerCase()))
      .map((f) => f.raw).join('');
    yield Buffer.from(kept + (end < 0 ? '' : '\r\n'), 'latin1');
    if (cut < head.length) yield head.subarray(cut);
    head = null;
  }
  if (head !== null && head.length) yield head;
}

/**
 * A stream of the outgoing message for `entry`, from `body` when the queue still holds its bytes, else from `file`
 * (at `start`: a journal segment holds many messages).
 */
export function outgoingStream(entry: QueueEntry, file: string, body?: Buffer, start = 0): Readable {
  if (body && body.length === entry.size) return fromMemory(entry, body);
  const prefix = Buffer.from(entry.prepend, 'latin1');
  if (entry.remove.length === 0) {
    return Readable.from((async function* () {
      if (prefix.length) yield prefix;
      for await (const chunk of messageBytes(file, entry.size, start)) yield chunk as Buffer;
    })(), { objectMode: false });
  }
  const remove = new Set(entry.remove);
  return Readable.from((async function* () {
    if (prefix.length) yield prefix;
    yield* withHeadersRemoved(file, entry.size, start, remove);
  })(), { objectMode: false });
}

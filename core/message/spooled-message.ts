// The MessageView over a spool file: headers from the captured section, MIME parsing done once, on first use.
import { createReadStream } from 'node:fs';
import { readFile, writeFile, rename } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { MessageView, ParsedMessage } from './types.ts';
import { Headers, headerEnd, parseHeaderBlock } from './header-block.ts';
import { parseMime } from './mime-parse.ts';

export class SpooledMessage implements MessageView {
  readonly id: string;
  readonly path: string;
  size: number;
  headers: Headers;
  private parsing?: Promise<ParsedMessage>;

  /** The message bytes when small enough to keep (see spool-writer), for the relay. */
  memoryCopy?: Buffer;

  constructor(id: string, path: string, size: number, headerBlock: Buffer, memoryCopy?: Buffer) {
    this.memoryCopy = memoryCopy;
    this.id = id;
    this.path = path;
    this.size = size;
    this.headers = new Headers(parseHeaderBlock(headerBlock.toString('latin1')));
  }

  stream(): Readable { return createReadStream(this.path, { highWaterMark: 256 * 1024 }); }
  raw(): Promise<Buffer> { return readFile(this.path); }
  parsed(): Promise<ParsedMessage> {
    this.parsing ??= parseMime(this.stream());
    return this.parsing;
  }

  /** Replaces the spooled content (a plugin rewrote the message); the old file is replaced atomically. */
  async replace(raw: Buffer): Promise<void> {
    const tmp = `${this.path}.rewrite`;
    await writeFile(tmp, raw);
    await rename(tmp, this.path);
    this.size = raw.length;
    this.memoryCopy = raw.length <= 128 * 1024 ? raw : undefined;
    const end = headerEnd(raw);
    this.headers = new Headers(parseHeaderBlock(raw.subarray(0, end < 0 ? raw.length : end).toString('latin1')));
    this.parsing = undefined;
  }
}

// The MessageView over a received message (in memory when small, else a spool file): headers from the captured section, MIME parsing done once.
import { createReadStream, writeFileSync } from 'node:fs';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { MessageView, ParsedMessage } from './types.ts';
import { Headers, headerEnd, parseHeaderBlock } from './header-block.ts';
import { parseMime } from './mime-parse.ts';
import { MEMORY_COPY_BYTES } from './spool-writer.ts';
import { crlfLineEnds } from './line-normalizer.ts';

export class SpooledMessage implements MessageView {
  readonly id: string;
  private readonly file: string;
  size: number;
  headers: Headers;
  private parsing?: Promise<ParsedMessage>;
  /** The bytes are in the spool file (a large message, or a small one a plugin asked the path of). */
  onDisk: boolean;

  /** The message bytes when small enough to keep (see spool-writer): the only copy unless `onDisk`. */
  memoryCopy?: Buffer;

  constructor(id: string, file: string, size: number, headerBlock: Buffer, memoryCopy?: Buffer) {
    this.memoryCopy = memoryCopy;
    this.onDisk = !memoryCopy;
    this.id = id;
    this.file = file;
    this.size = size;
    this.headers = new Headers(parseHeaderBlock(headerBlock.toString('latin1')));
  }

  /** The spool file's path; a message held in memory only is written out first (for plugins that hand a path to a tool). */
  get path(): string {
    this.writeOut();
    return this.file;
  }

  /** Puts a message held in memory only into its spool file (for the parts of the queue that keep a file per message). */
  writeOut(): void {
    if (this.onDisk || !this.memoryCopy) return;
    writeFileSync(this.file, this.memoryCopy, { flag: 'wx' });
    this.onDisk = true;
  }

  stream(): Readable {
    if (this.memoryCopy) return Readable.from([this.memoryCopy], { objectMode: false });
    return createReadStream(this.file, { highWaterMark: 256 * 1024 });
  }
  raw(): Promise<Buffer> { return this.memoryCopy ? Promise.resolve(this.memoryCopy) : readFile(this.file); }
  parsed(): Promise<ParsedMessage> {
    this.parsing ??= parseMime(this.stream(), () => this.raw(), this.size);
    return this.parsing;
  }

  /**
   * Replaces the spooled content (a plugin rewrote the message); the old file is replaced atomically. Bare CR and LF
   * line ends become CRLF, as a client's DATA is stored: the relay sends the stored bytes as they are.
   */
  async replace(rewritten: Buffer): Promise<void> {
    const raw = crlfLineEnds(rewritten);
    const small = raw.length <= MEMORY_COPY_BYTES;
    if (this.onDisk || !small) {
      const tmp = `${this.file}.rewrite`;
      await writeFile(tmp, raw);
      await rename(tmp, this.file);
      this.onDisk = true;
    }
    this.size = raw.length;
    this.memoryCopy = small ? raw : undefined;
    const end = headerEnd(raw);
    this.headers = new Headers(parseHeaderBlock(raw.subarray(0, end < 0 ? raw.length : end).toString('latin1')));
    this.parsing = undefined;
  }
}

// A journal segment's done marks (`<seq>.done`): the ids of its messages that left it, one per line, not fsync'd.
//
// Why reserved space: a mark is written when a message has been delivered, and a full disk must not lose it (the
// message would be delivered again after a restart, as Postfix never does: finishing a delivery there is an unlink,
// which needs no space). So the file is grown with zeros ahead of the marks, at the latest when a record is appended
// (a full disk then refuses the message, 452, before it is accepted), and a mark overwrites bytes already allocated.
// Readers skip the zeros. On a copy-on-write file system (btrfs, ZFS) an overwrite still needs new blocks: there the
// journal's fallback (marks kept in memory and retried, with a warning) is what is left.
import { closeSync, constants, openSync, writeSync } from 'node:fs';

/** Zeros written per reservation: 16 KB holds the marks of ~800 messages (queue ids are 19 bytes). */
const RESERVE_CHUNK = 16 * 1024;
const ZEROS = Buffer.alloc(RESERVE_CHUNK);
const NUL = 0;
const NEWLINE = 0x0a;

/** Bytes one id's mark takes. */
export const markLength = (id: string): number => Buffer.byteLength(id) + 1;

/** The ids in a done file's bytes (reserved zeros and a torn line after a power cut are no ids). */
export function parseDoneMarks(data: Buffer | string): Set<string> {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  return new Set(text.split(/[\n\0]/).filter(Boolean));
}

/** Where the marks in a done file's bytes end: the reserved zeros after them are overwritten by the next marks. */
function marksEnd(data: Buffer): number {
  let end = data.length;
  while (end > 0 && data[end - 1] === NUL) end--;
  return end;
}

/** Writes all of `buf` at `position` of `fd`; a short write (rare: a nearly full disk) goes on where it stopped. */
function writeAllAt(fd: number, buf: Buffer, position: number): number {
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, position + off);
  } catch (e) {
    (e as { written?: number }).written = off;
    throw e;
  }
  return off;
}

export class DoneMarks {
  readonly file: string;
  private fd: number;
  /** Where the next mark goes. */
  private end: number;
  /** The file's length: the marks, then reserved zeros. */
  private reserved: number;
  /** Bytes the marks of the segment's messages not yet marked will take. */
  private owed = 0;
  /** The marks end in a torn line (a power cut): the next one starts on a line of its own. */
  private torn = false;
  /** Ids whose mark could not be written; kept for `retry`. */
  private readonly unwritten: string[] = [];

  private constructor(file: string, fd: number, end: number, reserved: number) {
    this.file = file;
    this.fd = fd;
    this.end = end;
    this.reserved = reserved;
  }

  /**
   * The marks of a new segment: an empty file. Truncated if one is there: a `.done` whose segment was deleted before
   * it (a kill between the two unlinks) holds marks of messages long gone.
   */
  static create(file: string): DoneMarks {
    return new DoneMarks(file, openSync(file, 'w'), 0, 0);
  }

  /**
   * The marks of a segment taken over, from the bytes read of its file (none when it had no file), owing marks for
   * `liveMarkBytes`. The space they need is reserved now when it can be; a full disk leaves them to the fallback.
   */
  static resume(file: string, data: Buffer | undefined, liveMarkBytes: number): DoneMarks {
    const marks = new DoneMarks(file, -1, data ? marksEnd(data) : 0, data?.length ?? 0);
    marks.owed = liveMarkBytes;
    marks.torn = !!data && marks.end > 0 && data[marks.end - 1] !== NEWLINE;
    // A file that cannot be opened or grown now (a full disk, a file root left behind) must not stop the start:
    // a mark that then fails is kept in memory, retried and warned about.
    try { marks.reserve(0); } catch { /* as above */ }
    return marks;
  }

  /** The descriptor, opened on first use for a segment taken over. */
  private descriptor(): number {
    // Not O_APPEND: a positional write on an O_APPEND descriptor goes to the end, past the reserved zeros.
    if (this.fd < 0) this.fd = openSync(this.file, constants.O_WRONLY | constants.O_CREAT);
    return this.fd;
  }

  /**
   * Makes sure the file has room for the marks owed plus `bytes` more, growing it with zeros when it has not;
   * throws the file system's error (ENOSPC) when it cannot (the caller then refuses the record it was for).
   */
  reserve(bytes: number): void {
    const need = this.end + this.owed + bytes;
    if (this.reserved >= need) return;
    const fd = this.descriptor();
    while (this.reserved < need) {
      const chunk = Math.max(RESERVE_CHUNK, Math.min(need - this.reserved, 64 * RESERVE_CHUNK));
      const zeros = chunk <= ZEROS.length ? ZEROS.subarray(0, chunk) : Buffer.alloc(chunk);
      try {
        this.reserved += writeAllAt(fd, zeros, this.reserved);
      } catch (e) {
        this.reserved += (e as { written?: number }).written ?? 0;
        throw e;
      }
    }
  }

  /** A record whose mark `reserve` made room for was appended: its mark is owed. */
  owe(bytes: number): void { this.owed += bytes; }

  /** Writes the mark of `id`; throws when it cannot (then the caller keeps it: `keep`). */
  write(id: string): void {
    const line = Buffer.from(this.torn ? `\n${id}\n` : `${id}\n`);
    writeAllAt(this.descriptor(), line, this.end);
    this.torn = false;
    this.end += line.length;
    if (this.end > this.reserved) this.reserved = this.end;
    this.owed = Math.max(0, this.owed - line.length);
  }

  /** Keeps a mark that could not be written, for `retry`. */
  keep(id: string): void { this.unwritten.push(id); }

  /** Marks kept in memory. */
  get unwrittenCount(): number { return this.unwritten.length; }
  /** The ids of the marks kept in memory (for a warning). */
  get unwrittenIds(): readonly string[] { return this.unwritten; }

  /** Writes the marks kept in memory, as many as it can; returns how many it wrote. */
  retry(): number {
    let wrote = 0;
    while (this.unwritten.length) {
      try { this.write(this.unwritten[0]); } catch { break; }
      this.unwritten.shift();
      wrote++;
    }
    return wrote;
  }

  /** The segment is gone (unlinked): its marks kept in memory are moot. */
  forget(): void { this.unwritten.length = 0; }

  close(): void {
    if (this.fd >= 0) { closeSync(this.fd); this.fd = -1; }
  }
}

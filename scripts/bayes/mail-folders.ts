// Reads messages from what admins keep mail in: folders of one message per file (.eml, MailEnable .mai, or
// no extension), Maildirs (cur/ and new/), and mbox files, found by walking a folder recursively.
import fs from 'node:fs';
import path from 'node:path';
import { isUtf8 } from 'node:buffer';

export interface MailSource {
  /** A file that holds one message, or an mbox holding several; for reports (a name that is not UTF-8 shows U+FFFD). */
  file: string;
  /** The file's path as the file system's bytes, which `file` loses for a name that is not UTF-8; opened when set. */
  bytePath?: Buffer;
  /** Named as an mbox (.mbox, .mbx); any other file is one too when it starts with a From_ line (seen on reading). */
  mbox: boolean;
}

export interface MailItem {
  /** The file, with `#n` appended for the n-th message of an mbox. */
  name: string;
  /** n, for the n-th message of an mbox: `name` is then not the file's path. */
  message?: number;
  /** The file's path in base64 of its bytes, when they are not UTF-8 (`name` then shows U+FFFD): what opens it. */
  fileBytes?: string;
  raw: Buffer;
}

/** A file or folder under a folder that gave no message, and why: the run goes on without it and reports it. */
export interface SkippedFile {
  /** The file's or folder's path. */
  file: string;
  /** The path in base64 of its bytes, when they are not UTF-8 (`file` then shows U+FFFD). */
  fileBytes?: string;
  /** Set when it is a folder. */
  folder?: boolean;
  /**
   * For a file: `empty`; `not a message` (it starts with neither a header field nor a From_ line: a photo, a mail
   * client's index); `broken link` (a symbolic link to nothing); `link loop` (a link that leads to itself);
   * `unreadable: CODE` (e.g. ENOENT for a file moved after the folder was listed, as a mail client does in a live
   * Maildir). For a folder: `unreadable folder: CODE`; `link loop` (a link to a folder it is in); `folder read
   * already` (a second link to it); `Maildir++ folder: name it to learn it`.
   */
  reason: string;
}

const SKIP_NAMES = /^(\.|cyrus\.|dovecot[.-]|maildirfolder$|\.DS_Store$)/;
const MBOX_NAME = /\.(mbox|mbx)$/i;
const SEPARATOR = Buffer.from(path.sep);
// A Maildir++ folder (.Junk, .Sent) is a mail client's folder, of any class: learned as ham along with the Maildir,
// a Junk folder would teach spam as ham. So it is listed only when named, and reported so that the admin knows.
const MAILDIR_PLUS_FOLDER = 'Maildir++ folder: name it to learn it';

/**
 * Where a listing really read, by real paths (as bytes in latin1, so names that are not UTF-8 never look alike): every
 * folder, and every file reached through a symbolic link (or named itself). Files found in a folder are in it.
 */
export interface ReachedPlaces { folders: Set<string>; files: Set<string> }

/**
 * What two listings (`a`, `b`) both read, by real path: a folder read by both, or a file of one that the other reached
 * (in a folder it read, or through a link); undefined when none. A link under the ham folder into the spam folder
 * would otherwise have its messages learned as both.
 */
export function sharedPlace(a: ReachedPlaces, b: ReachedPlaces): string | undefined {
  for (const f of a.folders) if (b.folders.has(f)) return f;
  const holds = (r: ReachedPlaces, file: string) => r.files.has(file) || r.folders.has(path.dirname(file));
  for (const f of a.files) if (holds(b, f)) return f;
  for (const f of b.files) if (holds(a, f)) return f;
  return undefined;
}

/**
 * Lists the message files and mboxes under `target` (a folder or a single file), in a stable order. Folders are read
 * with their entries' types, so a folder of 25,000 messages costs no stat or open per file (that was 22 µs a file,
 * 0.5 s before learning began); only symbolic links are followed with a stat. A name that is not UTF-8 (Latin-1, in
 * folders copied from Windows) is kept as bytes too, in `bytePath`, since its string would not open it again. A
 * folder below `target` that cannot be read, or that a link leads back to, is noted in `skipped` and passed over.
 * `target` may be bytes itself (a name given on the command line that is not UTF-8). `reached` collects the real
 * places read, for `sharedPlace`.
 */
export function listSources(target: string | Buffer, skipped?: SkippedFile[], reached?: ReachedPlaces): MailSource[] {
  const out: MailSource[] = [];
  // Real paths of the folders read (to read each once) and of those being read (a link to one of them is a loop).
  const read = new Set<string>();
  const reading = new Set<string>();
  const note = (p: string, reason: string, folder = false, bytes?: Buffer) => skipped?.push({ file: p, ...bytesField(bytes), ...(folder && { folder }), reason });
  const file = (p: string, bytePath: Buffer | undefined) => out.push({ file: p, bytePath, mbox: MBOX_NAME.test(p) });
  // `dirBytes` is the folder's path as bytes when a name in it is not UTF-8; `top` is `target` itself.
  const visit = (dir: string, dirBytes: Buffer | undefined, top: boolean) => {
    let real: string;
    let entries: Array<fs.Dirent<string | Buffer>>;
    try {
      real = fs.realpathSync.native(dirBytes ?? dir, 'latin1');
      if (read.has(real)) { note(dir, reading.has(real) ? 'link loop' : 'folder read already', true, dirBytes); return; }
      entries = readFolder(dirBytes ?? dir);
    } catch (err) {
      if (top) throw err;
      note(dir, `unreadable folder: ${errorCode(err)}`, true, dirBytes);
      return;
    }
    read.add(real);
    reading.add(real);
    reached?.folders.add(real);
    const base = top ? path.normalize(dir) : dir;
    const names = entries.map((e) => e.name.toString());
    // A Maildir keeps delivered mail in cur/ and new/; tmp/ holds half-written files.
    const isMaildir = names.includes('cur') && names.includes('new');
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const name = names[i];
      if (isMaildir && name === 'tmp') continue;
      const p = joinName(base, name);
      const bytes = typeof e.name === 'string' ? undefined : joinPath(dirBytes ?? Buffer.from(base), e.name);
      if (SKIP_NAMES.test(name)) {
        if (isMaildir && name.startsWith('.') && e.isDirectory() && hasCur(bytes ?? p)) note(p, MAILDIR_PLUS_FOLDER, true, bytes);
      } else if (e.isFile()) file(p, bytes);
      else if (e.isDirectory()) visit(p, bytes, false);
      else if (e.isSymbolicLink()) follow(p, bytes);
      else note(p, notAFile(e), false, bytes);
    }
    reading.delete(real);
  };
  // A link that leads nowhere is skipped; a target that does not exist is an error.
  const follow = (p: string, bytes: Buffer | undefined, top = false) => {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(bytes ?? p, { throwIfNoEntry: top });
    } catch (err) {
      if (top) throw err;
      note(p, errorCode(err) === 'ELOOP' ? 'link loop' : `unreadable: ${errorCode(err)}`, false, bytes);
      return;
    }
    if (st?.isFile()) {
      file(p, bytes);
      reached?.files.add(fs.realpathSync.native(bytes ?? p, 'latin1'));
    } else if (st?.isDirectory()) visit(p, bytes, top);
    else if (!st) note(p, 'broken link', false, bytes);
    else note(p, notAFile(st), false, bytes);
  };
  if (typeof target === 'string') follow(target, undefined, true);
  else follow(target.toString(), target, true);
  return out;
}

/**
 * Why an entry that is neither a file nor a folder is skipped: a FIFO found among messages would block the read
 * until something wrote to it, and was passed over unlisted, as if it were not there.
 */
function notAFile(e: fs.Dirent<string | Buffer> | fs.Stats): string {
  if (e.isFIFO()) return 'FIFO';
  if (e.isSocket()) return 'socket';
  return 'device';
}

/**
 * A folder's entries, sorted by name. Names are read as strings, the fast way (17 ms against 41 ms as bytes for
 * 25,000 names), and again as bytes when one is not UTF-8 (decoded, it shows U+FFFD) or the folder's path is bytes.
 */
function readFolder(dir: string | Buffer): Array<fs.Dirent<string | Buffer>> {
  if (typeof dir === 'string') {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    if (!entries.some((e) => e.name.includes('\ufffd'))) return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  const entries = fs.readdirSync(typeof dir === 'string' ? Buffer.from(dir) : dir, { withFileTypes: true, encoding: 'buffer' });
  return entries.sort((a, b) => Buffer.compare(a.name, b.name));
}

/** Whether a folder has cur/, as a Maildir has (and so a Maildir++ folder, a Maildir inside one). */
function hasCur(dir: string | Buffer): boolean {
  return fs.existsSync(typeof dir === 'string' ? joinName(dir, 'cur') : joinPath(dir, Buffer.from('cur')));
}

/** As path.join(dir, name) for a normalized `dir` and a name from a folder, without normalizing the path again. */
function joinName(dir: string, name: string): string {
  return dir === '.' ? name : dir.endsWith(path.sep) ? dir + name : dir + path.sep + name;
}

function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir[dir.length - 1] === SEPARATOR[0] ? Buffer.concat([dir, name]) : Buffer.concat([dir, SEPARATOR, name]);
}

/**
 * `{ fileBytes }` (base64) for a path whose bytes are not UTF-8, or nothing: JSON output names such a file by its
 * string, which shows U+FFFD where its bytes were and so opens nothing, and by these bytes, which open it.
 */
function bytesField(bytes: Buffer | undefined): { fileBytes?: string } {
  return bytes && !isUtf8(bytes) ? { fileBytes: bytes.toString('base64') } : {};
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** Bytes read at a time: an mbox of any size is split holding one message and a chunk, never the whole file. */
const CHUNK_SIZE = 1 << 20;

/** A header field's name and colon (RFC 5322: printable ASCII but the colon), which is how a message starts. */
const FIELD_START = /^[!-9;-~]+:/;
/**
 * A From_ line (RFC 4155): `From `, the sender, and a date with a time of day (`Thu Nov 21 10:00:00 2026`). The time
 * is what tells it from a body line such as `From my point of view`.
 */
const FROM_LINE = /^From \S+ .*\b\d{1,2}:\d{2}/;
/** Bytes of a file's start looked at to judge whether it is mail. */
const HEAD_SIZE = 4096;

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
const FROM = Buffer.from('From ');
// A longer line is never taken for a From_ line, so that a line starting `From ` is judged the same wherever the
// chunks end, and no more than this is held over to the next chunk.
const MAX_FROM_LINE = 1000;

export interface ReadOptions {
  /** Where files that gave no message are noted. */
  skipped?: SkippedFile[];
  /** Called once per source, after its messages have been taken (a progress bar's tick). */
  onFile?: () => void;
  /** Called for every message, as it is taken (a progress bar's message count). */
  onMessage?: () => void;
  /** Called as an mbox is read, with the share of its bytes read so far: a single mbox may take minutes. */
  onProgress?: (fraction: number) => void;
  /** Bytes read at a time (1 MiB); a small size lets a test put a chunk's end anywhere in a line. */
  chunkSize?: number;
}

/**
 * Yields every message of the sources, reading each file once. An empty file, one that is not a message, or one that
 * cannot be read (gone since the listing, say), yields nothing and is noted in `skipped`: one bad file does not end a
 * long run.
 */
export function* readMessages(sources: MailSource[], o: ReadOptions = {}): Generator<MailItem> {
  for (const src of sources) {
    for (const item of messagesOf(src, o.skipped, o.chunkSize ?? CHUNK_SIZE, o.onProgress)) {
      o.onMessage?.();
      yield item;
    }
    o.onFile?.();
  }
}

function* messagesOf(src: MailSource, skipped: SkippedFile[] | undefined, chunkSize: number, onProgress?: (fraction: number) => void): Generator<MailItem> {
  const named = bytesField(src.bytePath);
  const note = (reason: string) => skipped?.push({ file: src.file, ...named, reason });
  let fd: number;
  try {
    fd = fs.openSync(src.bytePath ?? src.file, 'r');
  } catch (err) {
    note(`unreadable: ${errorCode(err)}`);
    return;
  }
  try {
    const chunks = chunksOf(fd, chunkSize);
    const head = headOf(chunks);
    if (!head.length) { note('empty'); return; }
    const kind = kindOf(head.length === 1 ? head[0] : Buffer.concat(head));
    if (!kind) { note('not a message'); return; }
    if (kind === 'message' && !src.mbox) { yield { name: src.file, ...named, raw: joined([...head, ...chunks]) }; return; }
    // An mbox by its name may hold one message without a From_ line: it comes out as the one message.
    let n = 0;
    const read = chained(head, chunks);
    for (const raw of mboxMessages(onProgress ? reporting(read, fs.fstatSync(fd).size, onProgress) : read)) yield { name: `${src.file}#${++n}`, message: n, ...named, raw };
    if (!n) note('empty');
  } catch (err) {
    if (typeof (err as NodeJS.ErrnoException).syscall !== 'string') throw err;
    note(`unreadable: ${errorCode(err)}`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The file's bytes a chunk at a time, each in a buffer of its own (a message may keep a piece of one). The first is
 * one byte over the file's size when that is smaller, so that a message file is read whole in one read.
 */
function* chunksOf(fd: number, chunkSize: number): Generator<Buffer> {
  let size = Math.min(chunkSize, fs.fstatSync(fd).size + 1);
  for (;;) {
    const buf = Buffer.allocUnsafe(size);
    const n = fs.readSync(fd, buf, 0, size, null);
    if (n) yield n === size ? buf : buf.subarray(0, n);
    if (n < size) return; // a short read of a file is its end
    size = chunkSize;
  }
}

/** What a file is judged by: its first chunks, up to HEAD_SIZE bytes or its end. */
function headOf(chunks: Iterator<Buffer>): Buffer[] {
  const head: Buffer[] = [];
  for (let length = 0; length < HEAD_SIZE;) {
    const next = chunks.next();
    if (next.done) break;
    head.push(next.value);
    length += next.value.length;
  }
  return head;
}

function* chained(head: Buffer[], rest: Iterable<Buffer>): Generator<Buffer> {
  yield* head;
  yield* rest;
}

/**
 * The chunks, telling `onProgress` what share of the file's `size` bytes the messages taken so far came from: told
 * as each chunk is asked for, so that a share is only reported once its messages have been dealt with.
 */
function* reporting(chunks: Iterable<Buffer>, size: number, onProgress: (fraction: number) => void): Generator<Buffer> {
  let taken = 0;
  for (const chunk of chunks) {
    if (size) onProgress(taken / size);
    taken += chunk.length;
    yield chunk;
  }
}

function joined(chunks: Buffer[]): Buffer {
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/**
 * Whether a file, by its first line, is an mbox (a From_ line), a message (a header field), or neither (a photo, a
 * mail client's index or filter rules). A UTF-8 byte order mark and empty lines before a message's header are passed
 * over: Windows editors write the one and some tools that save mail the other, and neither makes a photo or an index
 * look like a message; an mbox has neither.
 */
function kindOf(head: Buffer): 'mbox' | 'message' | undefined {
  const end = Math.min(head.length, HEAD_SIZE);
  const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
  let i = bom ? 3 : 0;
  while (i < end && (head[i] === LF || (head[i] === CR && head[i + 1] === LF))) i += head[i] === LF ? 1 : 2;
  const eol = head.subarray(i, end).indexOf(LF);
  const line = head.toString('latin1', i, eol === -1 ? end : i + eol);
  if (FIELD_START.test(line)) return 'message';
  return !bom && FROM_LINE.test(line) ? 'mbox' : undefined;
}

/** Splits a whole mbox (mboxrd or mboxo) into messages, undoing the `>From ` quoting. */
export function splitMbox(data: Buffer): Buffer[] {
  return [...mboxMessages([data])];
}

function* mboxMessages(chunks: Iterable<Buffer>): Generator<Buffer> {
  const splitter = new MboxSplitter();
  for (const chunk of chunks) yield* splitter.push(chunk);
  yield* splitter.end();
}

/**
 * Splits an mbox fed a chunk at a time, holding the message being read and, between chunks, at most the start of a
 * line that cannot be judged yet. A From_ line at the start or after an empty line (LF or CRLF) ends a message and
 * starts the next; it is not part of either. One `>` is taken off each line matching `^>+From ` (the mboxrd quoting;
 * mboxo's `>From ` is read the same way).
 */
class MboxSplitter {
  /** The message being read, as pieces of chunks with the quoting `>`s left out. */
  private parts: Buffer[] = [];
  /** The start of a line carried over to the next chunk, to be judged with the rest of it. */
  private held: Buffer | undefined;
  /** Whether the next chunk starts a line, and whether the line before that one was empty. */
  private atLineStart = true;
  private afterEmptyLine = true;

  /** The messages that `chunk` ends; after the last chunk, `end()` gives the last message. */
  push(chunk: Buffer, last = false): Buffer[] {
    const buf = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    const out: Buffer[] = [];
    let taken = 0; // bytes of buf already in the message or left out
    let hold: number | undefined;
    for (let q = buf.indexOf(FROM); q !== -1; q = buf.indexOf(FROM, q + 1)) {
      let p = q;
      while (p > 0 && buf[p - 1] === GT) p--;
      if (!this.startsLine(buf, p)) continue;
      if (p < q) { this.parts.push(buf.subarray(taken, p)); taken = p + 1; continue; }
      if (!(p > 0 ? this.endsEmptyLine(buf, p - 1) : this.afterEmptyLine)) continue;
      const eol = buf.indexOf(LF, q);
      const end = eol === -1 ? buf.length : eol;
      if (end - q > MAX_FROM_LINE) continue;
      if (eol === -1 && !last) { hold = p; break; }
      if (!FROM_LINE.test(buf.toString('latin1', q, end))) continue;
      this.parts.push(buf.subarray(taken, p));
      out.push(...this.finish());
      taken = eol === -1 ? buf.length : eol + 1;
      q = end;
    }
    if (hold === undefined && !last) {
      const lineStart = buf.lastIndexOf(LF) + 1;
      if (this.startsLine(buf, lineStart) && this.undecided(buf, lineStart)) hold = lineStart;
    }
    this.parts.push(buf.subarray(taken, hold ?? buf.length));
    if (last) out.push(...this.finish());
    else this.carryOver(buf, hold);
    return out;
  }

  end(): Buffer[] {
    return this.push(Buffer.alloc(0), true);
  }

  private startsLine(buf: Buffer, i: number): boolean {
    return i > 0 ? buf[i - 1] === LF : this.atLineStart;
  }

  /** Whether the line ended by the LF at `lf` is empty (an LF or a CRLF line). */
  private endsEmptyLine(buf: Buffer, lf: number): boolean {
    const start = lf > 0 && buf[lf - 1] === CR ? lf - 1 : lf;
    return start > 0 ? buf[start - 1] === LF : this.atLineStart;
  }

  /**
   * Whether the line starting at `i`, cut off by the chunk's end, may yet turn out a `>*From ` line, or an empty
   * CRLF line before a From_ line.
   */
  private undecided(buf: Buffer, i: number): boolean {
    let j = i;
    while (j < buf.length && buf[j] === GT) j++;
    if (j === buf.length) return j > i;
    const rest = buf.length - j;
    if (rest < FROM.length && buf.compare(FROM, 0, rest, j) === 0) return true;
    return j === i && rest === 1 && buf[j] === CR;
  }

  /** Keeps what is held for the next chunk, and where that chunk starts. */
  private carryOver(buf: Buffer, hold: number | undefined): void {
    if (hold !== undefined) {
      this.held = buf.subarray(hold);
      this.afterEmptyLine = hold > 0 ? this.endsEmptyLine(buf, hold - 1) : this.afterEmptyLine;
      this.atLineStart = true;
    } else if (buf.length) {
      const atLineStart = buf[buf.length - 1] === LF;
      this.afterEmptyLine = atLineStart && this.endsEmptyLine(buf, buf.length - 1);
      this.atLineStart = atLineStart;
    }
  }

  /** The message read so far, unless it is only blank lines (as before a first From_ line), and a new one begun. */
  private finish(): Buffer[] {
    const message = Buffer.concat(this.parts);
    this.parts = [];
    return isBlank(message) ? [] : [message];
  }
}

function isBlank(data: Buffer): boolean {
  let i = 0;
  while (i < data.length && (data[i] === LF || data[i] === CR || data[i] === 0x20 || data[i] === 0x09)) i++;
  return i === data.length;
}

/** "skipped 3 files and 1 folder: 2 empty, 1 unreadable: ENOENT, 1 link loop (first: PATH, empty)", or nothing. */
export function describeSkipped(skipped: SkippedFile[]): string {
  if (!skipped.length) return '';
  const folders = skipped.filter((s) => s.folder).length;
  const what = [counted(skipped.length - folders, 'file'), counted(folders, 'folder')].filter(Boolean).join(' and ');
  const byReason = new Map<string, number>();
  for (const s of skipped) byReason.set(s.reason, (byReason.get(s.reason) ?? 0) + 1);
  const parts = [...byReason].map(([reason, n]) => `${n} ${reason}`);
  return `skipped ${what}: ${parts.join(', ')} (first: ${skipped[0].file}, ${skipped[0].reason})`;
}

/** "3 files", "1 folder", or nothing for none. */
function counted(n: number, noun: string): string {
  return n ? `${n} ${noun}${n === 1 ? '' : 's'}` : '';
}

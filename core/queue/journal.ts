// The queue journal: small messages appended to shared segment files and made durable by one group-committed fdatasync.
//
// Why: with one file per message, every message costs a create, a directory fsync and an unlink, each a journal
// transaction of the file system; measured here on ext4, that alone caps a queue at 550–750 messages/s from accept
// to removal, before any SMTP work. Appending to a segment costs one write, and one fdatasync serves every message
// that arrived while the previous one ran (measured: ~4,000 messages/s for the same file system work).
//
// Layout, in `<data_dir>/journal/`:
//   <seq>.seg   records (journal-record.ts): a header with the lengths, the body's CRC-32 and an HMAC (key in
//               data_dir/queue.key), the envelope JSON, the message bytes. Appended only by the owner process, never
//               rewritten. A torn record at the end is a crash while it was appended (never acknowledged); a bad
//               record with valid ones after it is damage: they are recovered, and a copy of the segment is set aside.
//               So is a last record that is all there behind a header that does not read (damagedHeaderRecord).
//   <seq>.done  ids (one per line) of the segment's messages that left it: delivered, deleted, or moved to files.
//               Written without fsync: a killed process loses nothing the kernel has; after a power cut a message
//               may be delivered twice, never lost. Its space is reserved (zeros) before a record is appended, so a
//               mark needs no new space: a full disk does not bring a delivered message back (see done-marks.ts).
//               A mark that still fails is kept in memory, retried, and warned about with the count at stake.
// A segment is deleted once all its messages are done. A message whose state changes (deferred, held, bounced) moves
// out to the file-per-message layout first, so segments only ever hold fresh messages and empty quickly.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { open, readdir, readFile, unlink } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import type { QueueEntry } from './entry.ts';
import { HEADER_LENGTH, isSegmentName, noFindings, recordHeader, SCANNING, segmentRecords, segmentScan, seqName, unexplained, type JournalLocation, type JournalRecord, type SegmentFindings } from './journal-record.ts';
import { copyDamagedAside, moveSegmentAside, returnHalfMovedMarks, SET_ASIDE_DIR, WRONG_KEY_CAUSE, WRONG_KEY_FIX } from './set-aside.ts';
import type { BrokenMessage } from './broken-messages.ts';
import { DirSync } from './dir-sync.ts';
import { GroupSync, fdatasyncFd } from './group-sync.ts';
import { retryWhileOutOfFiles } from './out-of-files.ts';
import { DoneMarks, markLength, parseDoneMarks } from './done-marks.ts';
import { applyJournalRecipientMarks, journalRecipientMark, journalRecipientMarksLength } from './recipient-marks.ts';
import type { Logger, LogFields } from '../log/types.ts';

export type { JournalLocation, JournalRecord } from './journal-record.ts';

export interface JournalLimits {
  /** A segment takes no new records past this size. */
  segmentBytes: number;
  /** An empty active segment is replaced (and deleted) once it has grown past this. */
  recycleBytes: number;
}
const DEFAULT_LIMITS: JournalLimits = { segmentBytes: 64 * 1024 * 1024, recycleBytes: 4 * 1024 * 1024 };

class Segment {
  readonly seq: number;
  readonly file: string;
  readonly doneFile: string;
  fd: number;
  size = 0;
  /** Messages in this segment not yet done. */
  live = 0;
  /** No more appends (full, or a failed write left a partial record at its end). */
  closed = false;
  dropping = false;
  dirSynced: boolean;
  /** Its done marks: made with a new segment, opened by a take-over for one with messages left. */
  marks?: DoneMarks;
  /** Resolves once an fdatasync that started after the call has completed (callers in between share it). */
  readonly syncer: GroupSync;

  constructor(dir: string, seq: number, fd: number, dirSynced: boolean, dirSync: DirSync) {
    this.seq = seq;
    this.file = path.join(dir, `${seqName(seq)}.seg`);
    this.doneFile = path.join(dir, `${seqName(seq)}.done`);
    this.fd = fd;
    this.dirSynced = dirSynced;
    this.syncer = new GroupSync(async () => {
      await fdatasyncFd(this.fd);
      if (!this.dirSynced) {
        // The segment's directory entry must be durable too, once, before its first message is acknowledged.
        await dirSync.sync();
        this.dirSynced = true;
      }
    });
  }

  closeFds(): void {
    if (this.fd >= 0) { closeSync(this.fd); this.fd = -1; }
    this.marks?.close();
  }
}

/** Every valid record of a segment file, in order (past a damaged one: journal-record.ts). */
function* readSegment(file: string, key: KeyObject): Generator<JournalRecord> {
  yield* segmentRecords(readFileSync(file), file, key, noFindings());
}

/**
 * How long a cooperative read works before it lets the event loop run: verifying 50,000 records (an HMAC, a CRC and a
 * JSON parse each) in one go held it ~0.8 s here, and a liveness probe answered meanwhile times out after 1 s.
 */
const SLICE_MS = 10;

/** Lets the event loop run (timers, sockets, signals) once the current slice of work has lasted SLICE_MS. */
class Slices {
  private start = performance.now();
  /** Whether the slice is over: the caller then awaits `pause()`. Checked without a promise, so most calls cost nothing. */
  get due(): boolean { return performance.now() - this.start >= SLICE_MS; }
  async pause(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.start = performance.now();
  }
}

/** A whole file, read through the thread pool: a 64 MB segment read synchronously would hold the event loop itself. */
async function readWhole(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const data = Buffer.allocUnsafe(size);
    let got = 0;
    // Up to the size seen at the open: records the owner appends later are not this read's to take.
    while (got < size) {
      const { bytesRead } = await fh.read(data, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return data.subarray(0, got);
  } finally { await fh.close(); }
}

/**
 * readSegment, with the event loop let in between slices of records, and of the search through damage (message text
 * there is looked through for records); what is not a valid record goes in `findings`.
 */
async function readSegmentInSlices(file: string, key: KeyObject, slices: Slices, findings: SegmentFindings): Promise<JournalRecord[]> {
  // Sockets and other reads may hold every descriptor for a moment while the event loop runs between slices.
  const data = await retryWhileOutOfFiles(() => readWhole(file));
  const out: JournalRecord[] = [];
  for (const item of segmentScan(data, file, key, findings)) {
    if (item !== SCANNING) out.push(item);
    if (slices.due) await slices.pause();
  }
  return out;
}

function doneIds(file: string): Set<string> {
  try { return parseDoneMarks(readFileSync(file)); } catch { return new Set(); }
}

/**
 * A segment's done file; undefined when it has none yet. Any other failure to read it throws: taken for "no marks",
 * it would bring every message already delivered from the segment back for delivery again.
 */
async function readDoneFile(file: string): Promise<Buffer | undefined> {
  try { return await retryWhileOutOfFiles(() => readFile(file)); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

const seqsOf = (names: string[]) => names.filter(isSegmentName).map((n) => Number(n.slice(0, 10))).sort((a, b) => a - b);
const basePath = (dir: string, seq: number) => path.join(dir, seqName(seq));

/**
 * Each segment of the folder in order, with its records whose messages are not done. A `reader` beside the owner
 * skips a segment it cannot read: the owner deletes emptied ones at any time.
 */
function* liveSegments(dir: string, key: KeyObject, reader: boolean): Generator<{ seq: number; records: JournalRecord[] }> {
  for (const seq of seqsOf(readdirSync(dir))) {
    const base = basePath(dir, seq);
    let records: JournalRecord[];
    try { records = [...readSegment(`${base}.seg`, key)]; } catch (e) { if (reader) continue; throw e; }
    // Read after the records: a message done while we read its segment is then left out.
    const done = doneIds(`${base}.done`);
    yield { seq, records: liveRecords(records, done) };
  }
}

/** A segment's records not marked done, with their recipients marked delivered applied (recipient-marks.ts). */
function liveRecords(records: JournalRecord[], done: ReadonlySet<string>): JournalRecord[] {
  return records.filter((r) => !done.has(r.entry.id)).map((r) => ({ ...r, entry: applyJournalRecipientMarks(r.entry, done) }));
}

/** Room a record's marks take in its done file: the message's own, and one per recipient when it has several. */
const marksLength = (entry: QueueEntry): number => markLength(entry.id) + journalRecipientMarksLength(entry.id, entry.recipients.length);

/** liveSegments, reading with non-blocking I/O and letting the event loop run between slices of SLICE_MS. */
async function* liveSegmentsInSlices(dir: string, key: KeyObject, reader: boolean, slices: Slices): AsyncGenerator<{ seq: number; records: JournalRecord[]; doneData?: Buffer; done: Set<string>; findings: SegmentFindings }> {
  for (const seq of seqsOf(await readdir(dir))) {
    const base = basePath(dir, seq);
    let records: JournalRecord[];
    const findings = noFindings();
    // A reader skips only a segment the owner deleted meanwhile; any other failure is not "no messages there".
    try { records = await readSegmentInSlices(`${base}.seg`, key, slices, findings); } catch (e) {
      if (reader && (e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    // Read after the records, as above.
    const doneData = await readDoneFile(`${base}.done`);
    const done = doneData ? parseDoneMarks(doneData) : new Set<string>();
    if (slices.due) await slices.pause();
    yield { seq, records: liveRecords(records, done), doneData, done, findings };
  }
}

/** Reads the messages still in a journal folder without taking it over (for `moat queue` beside a running gateway). */
export function readJournal(dir: string, key: KeyObject): JournalRecord[] {
  const out: JournalRecord[] = [];
  try {
    for (const { records } of liveSegments(dir, key, true)) for (const r of records) out.push(r);
  } catch { /* no journal folder */ }
  return out;
}

/**
 * readJournal for a process that must keep answering meanwhile (the gateway during its recovery). No journal folder
 * is no messages; a segment or its marks that cannot be read throws, so that a caller never decides a message is not
 * in the journal on a read that failed.
 */
export async function readJournalInSlices(dir: string, key: KeyObject): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  try {
    for await (const { records } of liveSegmentsInSlices(dir, key, true, new Slices())) for (const r of records) out.push(r);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && (e as NodeJS.ErrnoException).path === dir) return out;
    throw e;
  }
  return out;
}

/** Where the journal says what could cost a duplicate delivery, and (`error`, else `warn`) what it set aside. */
export type JournalLog = Pick<Logger, 'warn' | 'info'> & Partial<Pick<Logger, 'error'>>;

/** Without the queue's logger, lines still reach the gateway's log: it captures the console as warnings. */
const consoleLog: JournalLog = {
  warn: (msg, fields) => console.warn(`queue journal: ${msg}`, JSON.stringify(fields ?? {})),
  info: (msg, fields) => console.info(`queue journal: ${msg}`, JSON.stringify(fields ?? {})),
  error: (msg, fields) => console.error(`queue journal: ${msg}`, JSON.stringify(fields ?? {})),
};

/** An error line where the log has errors, else a warning. */
export function logError(log: JournalLog, msg: string, fields: LogFields): void {
  if (log.error) log.error(msg, fields); else log.warn(msg, fields);
}

/** How often marks kept in memory are tried again while the process runs. */
const MARK_RETRY_MS = 2000;
/** The warning about marks kept in memory is repeated, with the count then, at most this often. */
const MARK_WARN_EVERY_MS = 60_000;
/** Ids named in a warning: enough to look them up, not a log line of megabytes. */
const IDS_IN_WARNING = 50;

/** The queue's key, or how to get it when the take-over and the first append need it (queue-key.ts). */
export type JournalKey = KeyObject | (() => KeyObject);

/** Ids named in a log line about a set-aside segment: enough to look them up. */
const IDS_IN_ERROR = 50;

/** Why a whole record that fails a check is lost, as its line in the start's report says. */
const FAILED_BECAUSE: Record<SegmentFindings['failed'][number]['kind'], string> = {
  'bad-body': 'its message bytes fail their CRC',
  'wrong-key': 'its envelope fails its HMAC',
  'bad-header': 'its header does not read, though the record is all there: damaged after it was written, not torn by a crash',
};

export class Journal {
  readonly dir: string;
  private readonly key: JournalKey;
  /**
   * Where segments it cannot trust go (set-aside.ts): data_dir/corrupt/journal for the queue's journal; a journal of
   * its own (a test, a bench) keeps them in a folder of its own folder, which no segment name matches.
   */
  private readonly aside: string;
  /** Messages of the segments the take-over set aside or found damaged (lost unless put back), for the start's report. */
  readonly setAside: BrokenMessage[] = [];
  private readonly dirSync: DirSync;
  private readonly segments = new Map<number, Segment>();
  private readonly where = new Map<string, { segment: Segment; location: JournalLocation; entry: QueueEntry }>();
  private active?: Segment;
  private nextSeq = 1;
  /** The take-over, once started (recover). */
  private takingOver?: Promise<JournalRecord[]>;
  /** The take-over is complete: this process may append. */
  private recovered = false;

  private readonly limits: JournalLimits;
  private readonly log: JournalLog;
  /** Done marks that could not be written (kept by their segments), and what retries and warns about them. */
  private unwritten = 0;
  private markRetry?: NodeJS.Timeout;
  private lastMarkWarning = 0;

  constructor(dir: string, key: JournalKey, limits: Partial<JournalLimits> = {}, log: JournalLog = consoleLog, aside = path.join(dir, SET_ASIDE_DIR)) {
    this.dir = dir;
    this.key = key;
    this.aside = aside;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.log = log;
    mkdirSync(dir, { recursive: true });
    this.dirSync = new DirSync(dir);
  }

  /**
   * Takes the folder over after a start or crash: returns every message not yet done. New records go to a new
   * segment, so a torn record at the end of an old one can never be followed by a good one. The segments are read
   * with non-blocking I/O and verified in slices between which the event loop runs (health probes are answered
   * meanwhile). Appends are refused until it is over; a later call waits for it and returns nothing, and a failed
   * one leaves the journal not owned (every later call fails the same way).
   */
  async recover(): Promise<JournalRecord[]> {
    if (this.takingOver) { await this.takingOver; return []; }
    this.takingOver = this.takeOver();
    return this.takingOver;
  }

  private keyNow(): KeyObject { return typeof this.key === 'function' ? this.key() : this.key; }

  private async takeOver(): Promise<JournalRecord[]> {
    const out: JournalRecord[] = [];
    const slices = new Slices();
    // A segment whose set-aside a crash cut short gets its done marks back before it is read.
    await returnHalfMovedMarks(this.dir, this.aside);
    for await (const { seq, records, doneData, done, findings } of liveSegmentsInSlices(this.dir, this.keyNow(), false, slices)) {
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      if (await this.untrusted(seq, done, findings)) continue;
      const segment = new Segment(this.dir, seq, -1, true, this.dirSync);
      segment.closed = true;
      let markBytes = 0;
      for (const r of records) {
        // The first copy of an id wins.
        if (this.where.has(r.entry.id)) continue;
        segment.live++;
        markBytes += marksLength(r.entry);
        this.where.set(r.entry.id, { segment, location: r.location, entry: r.entry });
        out.push(r);
        if (slices.due) await slices.pause();
      }
      this.segments.set(seq, segment);
      // Segments written by an older version, or whose reservation a full disk cut short, get their room now.
      if (segment.live > 0) segment.marks = DoneMarks.resume(segment.doneFile, doneData, markBytes);
      else this.drop(segment);
    }
    this.recovered = true;
    return out;
  }

  /**
   * What the take-over does with a segment that holds more than valid records and a torn tail. Sealed under another
   * key throughout (no record verifies, some fail only their HMAC): moved aside whole, true (nothing of it is taken).
   * Damaged (a stretch that is no record with valid ones after it, or a whole record failing a check): a copy is set
   * aside and the valid records are taken as usual. Records already marked done count for nothing.
   */
  private async untrusted(seq: number, done: ReadonlySet<string>, findings: SegmentFindings): Promise<boolean> {
    const failed = findings.failed.filter((f) => f.id === undefined || !done.has(f.id));
    const base = basePath(this.dir, seq);
    const name = path.basename(`${base}.seg`);
    if (findings.records === 0 && failed.some((f) => f.kind === 'wrong-key')) {
      const moved = await moveSegmentAside(`${base}.seg`, this.aside);
      const ids = failed.map((f) => f.id ?? `${name}@${f.at}`);
      for (const id of ids) this.setAside.push({ id, path: moved, reason: `its journal record does not verify: ${WRONG_KEY_CAUSE}`, retried: false, setAside: 'wrong-key' });
      logError(this.log, `journal segment set aside: ${WRONG_KEY_CAUSE}`, { segment: name, set_aside_as: moved, messages: ids.length, ids: ids.slice(0, IDS_IN_ERROR), fix: WRONG_KEY_FIX });
      return true;
    }
    const lost = failed.map((f) => ({ id: f.id ?? `${name}@${f.at}`, why: FAILED_BECAUSE[f.kind] }));
    // Bytes of a damaged stretch that no whole record accounts for held records whose headers are damaged: what they
    // were is unknown, so they are named by where they are, even beside a record that was delivered already.
    for (const d of findings.damaged) {
      for (const u of unexplained(d, findings.failed)) lost.push({ id: `${name}@${u.from}`, why: `${u.to - u.from} bytes unreadable between ${u.from} and ${u.to}` });
    }
    // Damage only to records whose messages were delivered already costs nothing.
    if (!lost.length) return false;
    const copy = await copyDamagedAside([`${base}.seg`, `${base}.done`], this.aside);
    for (const l of lost) this.setAside.push({ id: l.id, path: copy, reason: `its journal record is damaged (${l.why}): a copy of the segment is kept`, retried: false, setAside: 'damaged' });
    logError(this.log, 'journal segment damaged: the records after the damage are recovered, a copy of the segment is kept', {
      segment: name, copy, records: findings.records, recovered_after_damage: findings.recordsAfterDamage,
      damaged_bytes: findings.damaged.reduce((n, d) => n + d.bytes, 0), lost: lost.length, ids: lost.slice(0, IDS_IN_ERROR).map((l) => l.id),
    });
    return false;
  }

  /** This process took the folder over (`recover`) and may append to it. */
  get owned(): boolean { return this.recovered; }

  has(id: string): boolean { return this.where.has(id); }
  location(id: string): JournalLocation | undefined { return this.where.get(id)?.location; }
  record(id: string): JournalRecord | undefined {
    const w = this.where.get(id);
    return w && { entry: w.entry, location: w.location };
  }
  /** The messages in the journal now, with the entries the queue holds for them. */
  records(): JournalRecord[] { return [...this.where.values()].map(({ entry, location }) => ({ entry, location })); }
  get size(): number { return this.where.size; }

  /** Appends a message with its envelope; resolves once both are on disk. */
  async append(entry: QueueEntry, body: Buffer): Promise<void> {
    if (!this.recovered) throw new Error('journal appended to before recovery');
    const segment = this.writable();
    // Room for the message's done mark (and its recipients' marks) first: a disk too full for it refuses the message
    // (452) before it is written, rather than fail to record its delivery later.
    const mark = marksLength(entry);
    segment.marks!.reserve(mark);
    const json = Buffer.from(JSON.stringify(entry));
    const parts = [Buffer.from(recordHeader(json, body, this.keyNow()), 'latin1'), json, body];
    const length = parts[0].length + json.length + body.length;
    const start = segment.size;
    try {
      // One writev without copying the body; a short write (rare: a nearly full disk) finishes with plain writes.
      const wrote = writevSync(segment.fd, parts);
      if (wrote < length) {
        const rest = Buffer.concat(parts).subarray(wrote);
        for (let off = 0; off < rest.length;) off += writeSync(segment.fd, rest, off);
      }
    } catch (err) {
      // A partial record may now end this segment: it takes nothing more (recovery stops reading at the tear).
      this.retire(segment);
      throw err;
    }
    segment.size += length;
    segment.live++;
    segment.marks!.owe(mark);
    const location = { file: segment.file, start: start + HEADER_LENGTH + json.length, size: body.length };
    this.where.set(entry.id, { segment, location, entry });
    if (segment.size >= this.limits.segmentBytes) this.retire(segment);
    try {
      await segment.syncer.sync();
    } catch (err) {
      // Not durable, and the client hears a 4xx: the record must not come back after a restart and be delivered too.
      this.done(entry.id);
      this.retire(segment);
      throw err;
    }
  }

  /** The message left the journal (delivered, deleted, or moved to its own files). */
  done(id: string): void {
    const w = this.where.get(id);
    if (!w) return;
    this.where.delete(id);
    const segment = w.segment;
    segment.live--;
    // Marked even when the segment is about to go: a crash before its unlink must not bring the message back.
    this.mark(segment, id);
    if (segment.live === 0 && segment === this.active && segment.size >= this.limits.recycleBytes) { segment.closed = true; this.active = undefined; }
    // A segment with marks it could not write is deleted as soon as it is empty: the unlink needs no space.
    if (segment.live === 0 && segment.marks?.unwrittenCount) this.retire(segment);
    if (segment.live === 0 && segment.closed) this.drop(segment);
  }

  /**
   * Marks recipients of a journaled message delivered (`<id>/<index>` lines, in the room reserved with its record),
   * for when its state cannot be moved out to files (a full disk). True when all are written; those that are not are
   * kept, retried and warned about as any done mark.
   */
  markRecipients(id: string, indexes: readonly number[]): boolean {
    const w = this.where.get(id);
    if (!w) return true;
    let written = true;
    for (const i of indexes) written = this.mark(w.segment, journalRecipientMark(id, i)) && written;
    return written;
  }

  /** Done marks that could not be written yet: messages a crash now would deliver again. */
  get unwrittenMarks(): number { return this.unwritten; }

  /**
   * Closes the journal's files (the messages stay on disk for the next start). Marks kept in memory are tried once
   * more, and segments whose messages are all done are deleted (needing no space, this settles their marks); a
   * warning names the messages whose marks are still not written, since the next start delivers them again.
   */
  close(): void {
    this.retryMarks();
    this.stopMarkRetry();
    for (const s of this.segments.values()) {
      if (s.live === 0 && !s.dropping) this.removeNow(s);
      s.closeFds();
    }
    if (this.unwritten > 0) {
      const ids = [...this.segments.values()].flatMap((s) => s.marks?.unwrittenIds ?? []);
      this.log.warn('delivered messages not recorded as done at stop: the next start delivers them again', {
        count: this.unwritten, ids: ids.slice(0, IDS_IN_WARNING), dir: this.dir,
      });
    }
    this.unwritten = 0;
    this.segments.clear();
    this.active = undefined;
  }

  /** Writes a message's done mark, or keeps it in memory to retry when it cannot (a full disk with no reservation). */
  private mark(segment: Segment, id: string): boolean {
    if (this.unwritten > 0) this.retryMarks();
    const marks = segment.marks;
    if (!marks) return false;
    try { marks.write(id); return true; } catch (err) {
      marks.keep(id);
      this.unwritten++;
      this.markRetry ??= setInterval(() => this.retryMarks(), MARK_RETRY_MS).unref();
      const now = Date.now();
      if (this.unwritten === 1 || now - this.lastMarkWarning >= MARK_WARN_EVERY_MS) {
        this.lastMarkWarning = now;
        this.log.warn('cannot record delivered messages as done: kept in memory and retried; a crash before they are written delivers them again', {
          count: this.unwritten, code: (err as NodeJS.ErrnoException).code, error: String((err as Error).message ?? err), file: marks.file,
        });
      }
      return false;
    }
  }

  private retryMarks(): void {
    if (this.unwritten === 0) return;
    let wrote = 0;
    for (const s of this.segments.values()) if (s.marks?.unwrittenCount) wrote += s.marks.retry();
    if (wrote === 0) return;
    this.unwritten -= wrote;
    if (this.unwritten === 0) {
      this.stopMarkRetry();
      this.log.info('done marks kept in memory are written now', { count: wrote });
    }
  }

  private stopMarkRetry(): void {
    if (this.markRetry) { clearInterval(this.markRetry); this.markRetry = undefined; }
  }

  /** A segment's files are gone: marks it kept in memory no longer matter. */
  private settled(segment: Segment): void {
    const n = segment.marks?.unwrittenCount ?? 0;
    if (n === 0) return;
    segment.marks!.forget();
    // A segment whose unlink finishes after close() was counted in its warning already.
    this.unwritten = Math.max(0, this.unwritten - n);
    if (this.unwritten === 0) this.stopMarkRetry();
  }

  /** Deletes an empty segment at once (at close: no fdatasync is under way, no append follows). */
  private removeNow(segment: Segment): void {
    try { unlinkSync(segment.file); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return; }
    this.settled(segment);
    try { unlinkSync(segment.doneFile); } catch { /* a .done without its segment is never read */ }
  }

  private writable(): Segment {
    if (this.active && !this.active.closed) return this.active;
    const seq = this.nextSeq++;
    const segment = new Segment(this.dir, seq, -1, false, this.dirSync);
    segment.fd = openSync(segment.file, 'wx');
    try { segment.marks = DoneMarks.create(segment.doneFile); } catch (e) {
      closeSync(segment.fd);
      void unlink(segment.file).catch(() => undefined);
      throw e;
    }
    this.segments.set(seq, segment);
    this.active = segment;
    return segment;
  }

  private retire(segment: Segment): void {
    segment.closed = true;
    if (this.active === segment) this.active = undefined;
    if (segment.live === 0) this.drop(segment);
  }

  /** Deletes an empty, closed segment once its last fdatasync is over. */
  private drop(segment: Segment): void {
    if (!this.segments.has(segment.seq) || segment.dropping) return;
    segment.dropping = true;
    const go = () => {
      if (segment.live > 0) return;
      this.segments.delete(segment.seq);
      segment.closeFds();
      void unlink(segment.file).then(() => this.settled(segment), () => undefined).then(() => unlink(segment.doneFile).catch(() => undefined));
    };
    if (segment.syncer.idle) go();
    else void segment.syncer.sync().catch(() => undefined).then(go);
  }
}

/** Reads `size` bytes at `start` of `file` (a journaled message, for inspection or a move to its own file). */
export async function readLocation(loc: JournalLocation): Promise<Buffer> {
  const fh = await open(loc.file, 'r');
  try {
    const buf = Buffer.alloc(loc.size);
    let got = 0;
    while (got < loc.size) {
      const { bytesRead } = await fh.read(buf, got, loc.size - got, loc.start + got);
      if (bytesRead === 0) throw new Error(`journal segment ${loc.file} ends early`);
      got += bytesRead;
    }
    return buf;
  } finally { await fh.close(); }
}

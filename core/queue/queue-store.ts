// The durable queue on disk: `<id>.eml` (the message, its envelope sealed at the end) and, once its state changes, `<id>.json`.
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { access, constants as fsConstants, open, readdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { DirSync } from './dir-sync.ts';
import { forEachBounded } from './for-each-bounded.ts';
import { fsyncFd } from './group-sync.ts';
import type { QueueEntry } from './entry.ts';
import { checkSeal, sealEnvelope, type SealCheck } from './envelope-seal.ts';
import { Journal, logError, readJournal, readJournalInSlices, readLocation, type JournalLog, type JournalRecord } from './journal.ts';
import { QueueKey, QueueKeyMissingError } from './queue-key.ts';
import { asideDir, cutShortReason, moveAside, putBackVerified, SET_ASIDE_LINE, setAsideItems, WRONG_KEY_CAUSE } from './set-aside.ts';
import { anyHeld, heldRecipientIndex, markRecipientDone, type ReleasedCopy } from '../quarantine/released-copy.ts';
import { enteredFolderAt } from './entry-times.ts';
import { retryWhileOutOfFiles } from './out-of-files.ts';
import { markDeliveredInStateFile, parseStateFileText, stateFileText } from './recipient-marks.ts';
import { accessReason } from './data-dir-access.ts';
import type { BrokenMessage } from './broken-messages.ts';

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try { await fh.sync(); } finally { await fh.close(); }
}

async function writeDurable(file: string, data: string | Buffer, flags = 'w'): Promise<void> {
  const fh = await open(file, flags);
  try { await fh.writeFile(data); await fh.sync(); } finally { await fh.close(); }
}

async function readFileHead(file: string, max: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } finally { await fh.close(); }
}

async function unlinkQuiet(file: string): Promise<void> {
  try { await unlink(file); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
}

/**
 * A state file's entry; undefined when it is gone or does not parse. Any other failure to read it (EMFILE, EACCES,
 * EIO) is thrown: recovery must not take a file it could not read for a torn one.
 */
export function readStateFile(file: string): QueueEntry | undefined {
  // Synchronous on purpose: a state file is a few KB in the page cache, and a read through the thread pool costs
  // far more in hand-offs than the read itself (20,000 files: 0.2 s this way, 1.0–1.6 s with 8–64 reads in flight).
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  // With the recipients marked delivered while the state could not be rewritten (recipient-marks.ts).
  try { return parseStateFileText(text); } catch { return undefined; }
}

/** Files a whole-folder read (recovery, `moat queue list`) has open at once: far below any `ulimit -n`. */
export const FOLDER_READS_IN_FLIGHT = 32;

/** Ids are plain names; `<id>.broken.json` is a state file kept aside by recovery, not a message's. */
const plainId = (id: string) => !id.includes('.');

export type QueueFolder = 'queue' | 'quarantine' | 'deadletter';

/** The warning about delivered recipients kept in memory is repeated, with the count then, at most this often. */
const UNMARKED_WARN_EVERY_MS = 60_000;
/** Ids named in the warning at stop, as the journal's. */
const IDS_IN_WARNING = 50;

export class QueueStore {
  readonly dataDir: string;
  readonly dirs: Record<QueueFolder | 'delivered', string>;
  private readonly syncers: Record<QueueFolder, DirSync>;
  /** Read once it exists; created only by a take-over of a queue that needs none yet (queue-key.ts). */
  private readonly key: QueueKey;
  /** Bodies of small messages between their commit and their first delivery attempt, so the relay need not read the file. */
  private readonly bodies = new Map<string, Buffer>();
  private bodyBytes = 0;
  private removals: Promise<void> = Promise.resolve();
  /** Messages committed by this process, or recovered from their seal, whose state never left it: no .json for them. */
  private readonly sealedOnly = new Set<string>();
  /** Messages being committed into the quarantine, by id, with their entry time (oldestQuarantineCommit). */
  private readonly quarantineCommits = new Map<string, number>();
  /** Small messages, appended to shared segment files (see journal.ts); the owner process takes it over in recover(). */
  private readonly journal: Journal;
  private readonly log?: JournalLog;
  /**
   * Messages in the queue folder whose newest state could not be written (a full disk), as they stand in memory:
   * what load() (`moat queue show`) gives for them, and what the stop tries to write once more.
   */
  private readonly unwrittenStates = new Map<string, QueueEntry>();
  /**
   * Of those, recipients delivered that not even a mark in reserved room records (recordDelivered): a restart before
   * the message's state is written sends to them again.
   */
  private readonly unmarked = new Map<string, Set<string>>();

  /** Recipients delivered whose marks are held in memory only, over every message. */
  private unmarkedCount(): number { return [...this.unmarked.values()].reduce((n, s) => n + s.size, 0); }

  private lastUnmarkedWarning = 0;
  /** Told of each message set aside after recovery (onSetAside). */
  private readonly setAsideListeners: Array<(found: BrokenMessage) => void> = [];

  /** `log`: where the journal warns about delivered records it could not write yet (the console without one). */
  constructor(dataDir: string, log?: JournalLog) {
    this.dataDir = dataDir;
    this.log = log;
    this.dirs = {
      queue: path.join(dataDir, 'queue'),
      quarantine: path.join(dataDir, 'quarantine'),
      deadletter: path.join(dataDir, 'deadletter'),
      delivered: path.join(dataDir, 'delivered'),
    };
    for (const d of Object.values(this.dirs)) mkdirSync(d, { recursive: true });
    this.syncers = { queue: new DirSync(this.dirs.queue), quarantine: new DirSync(this.dirs.quarantine), deadletter: new DirSync(this.dirs.deadletter) };
    this.key = new QueueKey(dataDir);
    this.journal = new Journal(path.join(dataDir, 'journal'), () => this.key.forTakeOver(), {}, log, asideDir(dataDir, 'journal'));
  }

  /** Makes a small message and its envelope durable in the journal: no file of its own, one shared fdatasync. */
  async commitJournaled(entry: QueueEntry, body: Buffer): Promise<void> {
    await this.journal.append(entry, body);
  }

  /** Messages in the journal now (the rest of the queue has files of its own). */
  get journaledCount(): number { return this.journal.size; }

  /** Whether the message lives in the journal (committed, state unchanged since). */
  isJournaled(id: string): boolean { return this.journal.has(id); }

  /**
   * Moves a journaled message out to its own files (message, then state as .json, both fsync'd, then the directory),
   * before anything changes its state: the journal only ever holds messages as they were committed.
   */
  private async moveToFiles(entry: QueueEntry): Promise<void> {
    const loc = this.journal.location(entry.id);
    if (!loc) return;
    const body = this.bodies.get(entry.id) ?? await readLocation(loc);
    try {
      await writeDurable(this.emlPath(entry.id), body);
      // Whole or not at all: recovery takes a .json for the newer state and marks the journal record done, so a torn
      // one left by a kill here would be the message's only record at the next start.
      await this.writeState(entry, 'queue');
      await this.syncers.queue.sync();
    } catch (e) {
      // A full disk: the journal still holds the message; half-written files must not outlive it.
      await unlinkQuiet(this.jsonPath(entry.id)).catch(() => undefined);
      await unlinkQuiet(this.emlPath(entry.id)).catch(() => undefined);
      throw e;
    }
    this.journal.done(entry.id);
  }

  /** Where the bytes of a message in the queue folder are: its journal record, or its own file. */
  messageSource(id: string): { file: string; start: number } {
    const loc = this.journal.location(id);
    return loc ? { file: loc.file, start: loc.start } : { file: this.emlPath(id), start: 0 };
  }

  /** The first bytes of a message (at most `max`), wherever it is kept; empty when it cannot be read. */
  async readHead(id: string, folder: QueueFolder, max: number): Promise<Buffer> {
    // The owner's index costs nothing; another process reads the segments only for a message without a file.
    const indexed = folder === 'queue' ? this.journal.location(id) : undefined;
    if (!indexed) {
      try { return await readFileHead(this.emlPath(id, folder), max); } catch (e) {
        if (folder !== 'queue' || (e as NodeJS.ErrnoException).code !== 'ENOENT') return Buffer.alloc(0);
      }
    }
    const loc = indexed ?? this.journalRecord(id)?.location;
    return loc ? readLocation({ ...loc, size: Math.min(loc.size, max) }).catch(() => Buffer.alloc(0)) : Buffer.alloc(0);
  }

  /**
   * Closes the journal's open files (messages stay for the next start). Delivered recipients still recorded nowhere
   * but in memory are warned about, as the journal warns about its marks: the next start sends them again.
   */
  close(): void {
    if (this.unmarked.size) {
      const count = this.unmarkedCount();
      (this.log ?? console).warn('delivered recipients not recorded at stop: the next start sends them again', {
        count, ids: [...this.unmarked.keys()].slice(0, IDS_IN_WARNING), dir: this.dirs.queue,
      });
    }
    this.unmarked.clear();
    this.unwrittenStates.clear();
    this.journal.close();
  }

  /**
   * After a state write failed: records that `addresses` of a message in the queue folder were delivered without
   * needing new space (recipient-marks.ts), so a restart does not send to them again. Where that fails too they are
   * kept in memory, with a warning, and close() warns about them again. True when they are recorded on disk.
   */
  recordDelivered(entry: QueueEntry, addresses: readonly string[]): boolean {
    this.unwrittenStates.set(entry.id, entry);
    const indexes = addresses.map((a) => entry.recipients.findIndex((r) => r.address === a)).filter((i) => i >= 0);
    if (indexes.length === 0) return true;
    if (this.journal.has(entry.id)) return this.journal.markRecipients(entry.id, indexes);
    try {
      if (this.sealedOnly.has(entry.id)) throw Object.assign(new Error('no state file: the envelope is sealed in the message file'), { code: 'ENOROOM' });
      markDeliveredInStateFile(this.jsonPath(entry.id), indexes, entry.recipients.length);
      return true;
    } catch (err) {
      const kept = this.unmarked.get(entry.id) ?? new Set<string>();
      for (const a of addresses) kept.add(a);
      this.unmarked.set(entry.id, kept);
      const now = Date.now();
      if (now - this.lastUnmarkedWarning >= UNMARKED_WARN_EVERY_MS) {
        this.lastUnmarkedWarning = now;
        (this.log ?? console).warn('cannot record delivered recipients: kept in memory until the message state is written; a restart before that sends them again', {
          qid: entry.id, count: this.unmarkedCount(), code: (err as NodeJS.ErrnoException).code, error: String((err as Error).message ?? err),
        });
      }
      return false;
    }
  }

  /** A message's state is on disk (or the message is gone): nothing of it is kept in memory any more. */
  private stateWritten(id: string): void {
    if (this.unwrittenStates.size === 0) return;
    this.unwrittenStates.delete(id);
    this.unmarked.delete(id);
  }

  /** Messages whose newest state is kept in memory only. */
  get unwrittenStateCount(): number { return this.unwrittenStates.size; }

  /** Writes the states kept in memory once more (at stop, when no attempt runs); those that fail stay kept. */
  async writeUnwrittenStates(): Promise<void> {
    for (const e of [...this.unwrittenStates.values()]) await this.update(e).catch(() => undefined);
  }

  /** Journaled messages: the live index in the owner process, else a read of the segment files (`moat queue`). */
  private journalRecords(): JournalRecord[] {
    if (this.journal.owned) return this.journal.records();
    // Without queue.key, segments cannot be read: said (thrown), never taken for an empty journal.
    const key = this.key.forReading();
    return key ? readJournal(this.journal.dir, key) : [];
  }

  /** One journaled message: from `records` when the operation read them already, else as journalRecords() finds it. */
  private journalRecord(id: string, records?: JournalRecord[]): JournalRecord | undefined {
    if (!records && this.journal.owned) return this.journal.record(id);
    return (records ?? this.journalRecords()).find((r) => r.entry.id === id);
  }

  /**
   * Takes the journal over (once): the gateway at start, or `moat queue` acting on files while no gateway runs. The
   * event loop keeps running while the segments are read (see Journal.recover); a later call waits for the first.
   */
  async takeOverJournal(): Promise<QueueEntry[]> {
    return (await this.journal.recover()).map((r) => r.entry);
  }

  emlPath(id: string, folder: QueueFolder = 'queue'): string { return path.join(this.dirs[folder], `${id}.eml`); }
  jsonPath(id: string, folder: QueueFolder = 'queue'): string { return path.join(this.dirs[folder], `${id}.json`); }

  /**
   * Makes a message spooled to its own file durable (one over 128 KB, or any with `queue.journal: false`): its
   * envelope is sealed at the end of the message file, the file is fsync'd, then the directory (group-committed).
   * The envelope goes in the same file because a second file per message doubled the file system's work per commit.
   */
  async commit(entry: QueueEntry): Promise<void> {
    // Open, append and close are synchronous (microseconds, page cache); only the fsyncs wait on the thread pool.
    const fd = openSync(this.emlPath(entry.id), 'a');
    try {
      writeSync(fd, sealEnvelope(entry, this.key.forWriting()));
      await fsyncFd(fd);
    } finally { closeSync(fd); }
    await this.syncers.queue.sync();
    this.sealedOnly.add(entry.id);
  }

  /** Keeps a small committed message's bytes in memory for its first delivery attempt (bounded in total). */
  keepBody(id: string, body: Buffer): void {
    if (this.bodyBytes + body.length > QueueStore.BODY_CACHE_BYTES) return;
    this.bodies.set(id, body);
    this.bodyBytes += body.length;
  }

  /** Hands over (and forgets) the cached bytes of a message, if any. */
  takeBody(id: string): Buffer | undefined {
    const b = this.bodies.get(id);
    if (b) { this.bodies.delete(id); this.bodyBytes -= b.length; }
    return b;
  }

  static readonly BODY_CACHE_BYTES = 64 * 1024 * 1024;

  /** Queues a message we wrote ourselves (a delivery status notification): message and envelope fsync'd, then the directory. */
  async enqueue(entry: QueueEntry, data: Buffer): Promise<void> {
    try {
      await writeDurable(this.emlPath(entry.id), data, 'wx');
      // Through a temp file: a torn .json would be kept aside as broken at the next start.
      await this.writeState(entry, 'queue');
      await this.syncers.queue.sync();
    } catch (e) {
      // EEXIST: a message already has this id (a digest's id is fixed by its period and recipient); it is not ours to remove.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') await this.remove(entry.id).catch(() => undefined);
      throw e;
    }
  }

  /** Moves a spooled message into another folder durably (quarantine, dead-letter). */
  async commitTo(folder: QueueFolder, entry: QueueEntry, from: QueueFolder = 'queue'): Promise<void> {
    if (folder !== 'quarantine') return this.commitToFolder(folder, entry, from);
    // Its time in the quarantine starts now, not at its arrival: a digest run while the plugins judged it must not
    // count it as already listed. From here until it is on disk, oldestQuarantineCommit names it.
    entry.history.push({ at: Date.now(), result: 'quarantined' });
    this.quarantineCommits.set(entry.id, enteredFolderAt(entry));
    try { await this.commitToFolder(folder, entry, from); } finally { this.quarantineCommits.delete(entry.id); }
  }

  /**
   * The earliest entry time (enteredFolderAt) of a message being committed into the quarantine now, if any: such a
   * message is not listed yet though its time has passed, so a quarantine digest must not move its period past it.
   */
  oldestQuarantineCommit(): number | undefined {
    let oldest: number | undefined;
    for (const at of this.quarantineCommits.values()) if (oldest === undefined || at < oldest) oldest = at;
    return oldest;
  }

  private async commitToFolder(folder: QueueFolder, entry: QueueEntry, from: QueueFolder): Promise<void> {
    if (from === 'queue') {
      await this.moveToFiles(entry);
      // The cut below removes a sealed envelope: its state goes to a .json first, else a kill before the rename leaves
      // an unsealed .eml that recovery deletes as never acknowledged. (A message quarantined at intake has no seal.)
      if (this.sealedOnly.has(entry.id)) await this.writeState(entry, 'queue');
      this.sealedOnly.delete(entry.id);
    }
    // Outside the queue folder the message file holds the message only (a sealed envelope is cut off). A file already
    // shorter than the message is refused: the truncate would pad it with zeros, and they would be sent.
    const fh = await open(this.emlPath(entry.id, from), 'r+');
    try {
      const has = (await fh.stat()).size;
      if (has < entry.size) throw new Error(`message ${entry.id} not moved: ${cutShortReason(has, entry.size)}`);
      await fh.truncate(entry.size);
      await fh.sync();
    } finally { await fh.close(); }
    await this.writeState(entry, folder);
    await rename(this.emlPath(entry.id, from), this.emlPath(entry.id, folder));
    await this.syncers[folder].sync();
    await unlinkQuiet(this.jsonPath(entry.id, from));
    if (from !== folder) await this.syncers[from].sync();
    if (from === 'queue') this.stateWritten(entry.id);
  }

  /** Rewrites the envelope and state atomically (temp file, fsync, rename). */
  async update(entry: QueueEntry, folder: QueueFolder = 'queue'): Promise<void> {
    if (folder === 'queue' && this.journal.has(entry.id)) await this.moveToFiles(entry);
    else {
      // Still sealed only until the state file is there: a failed write leaves no room for recipient marks.
      await this.writeState(entry, folder);
      if (folder === 'queue') this.sealedOnly.delete(entry.id);
    }
    if (folder === 'queue') this.stateWritten(entry.id);
  }

  /** Writes a message's state file whole or not at all: a crash mid-write leaves the old one, or none, never a torn one. */
  private async writeState(entry: QueueEntry, folder: QueueFolder): Promise<void> {
    const tmp = `${this.jsonPath(entry.id, folder)}.tmp`;
    try {
      // With room for recipient marks, written when a later state cannot be (recipient-marks.ts).
      await writeDurable(tmp, stateFileText(entry));
      await rename(tmp, this.jsonPath(entry.id, folder));
    } catch (e) {
      // A full disk leaves a partial temp file: the old state stays valid, the temp must not take the space.
      await unlinkQuiet(tmp).catch(() => undefined);
      throw e;
    }
  }

  /** Forgets a message that was not acknowledged (refused, or failed before 250). */
  async discard(id: string): Promise<void> {
    await unlinkQuiet(this.emlPath(id));
    await unlinkQuiet(`${this.emlPath(id)}.rewrite`);
  }

  /** Removes a delivered message: envelope first, so a crash in between leaves only an orphan .eml. */
  async remove(id: string, folder: QueueFolder = 'queue'): Promise<void> {
    // One removal at a time: concurrent unlinks load every journal commit that the fsyncs of new messages wait for
    // (measured here: 20 concurrent commits went from ~26 ms to ~8 ms at p50 with removals serialised).
    this.takeBody(id);
    if (folder === 'queue') this.stateWritten(id);
    if (folder === 'queue' && this.journal.has(id)) { this.journal.done(id); return this.removals; }
    // Asynchronous on purpose: a synchronous unlink waits for the file system journal on the event loop
    // (measured: 4 KB / 20 conn fell from ~650 to ~300 msg/s to 250).
    const run = this.removals.then(async () => {
      await unlinkQuiet(this.jsonPath(id, folder));
      await unlinkQuiet(this.emlPath(id, folder));
    });
    this.removals = run.catch(() => undefined);
    return run;
  }

  /** Resolves once every removal asked for so far is done. */
  removalsSettled(): Promise<void> { return this.removals; }

  /** The message's envelope and state: its .json when its state changed since the commit, else the sealed envelope. */
  load(id: string, folder: QueueFolder = 'queue'): Promise<QueueEntry | undefined> {
    // A state the disk refused is newer than what the files say (attempts, recipients delivered since).
    const kept = folder === 'queue' ? this.unwrittenStates.get(id) : undefined;
    if (kept) return Promise.resolve(kept);
    return this.entryOf(id, folder, { eml: existsSync(this.emlPath(id, folder)), json: true }, (x) => this.journalRecord(x)?.entry);
  }

  /**
   * A message's entry from what is known of its files: its .json, else its sealed envelope, else its journal record.
   * A .json without its .eml is no message of this folder but what a move cut short left behind (the message is in the
   * folder it came from, went on to the other, or was never acknowledged): a second release of a quarantined message
   * would otherwise take it for a message in the queue and do nothing, or fail on the quarantine's missing .eml.
   */
  private async entryOf(id: string, folder: QueueFolder, files: { eml: boolean; json: boolean }, journaled: (id: string) => QueueEntry | undefined): Promise<QueueEntry | undefined> {
    // `<id>.broken.json` in dead-letter is a state recovery kept aside; it is listed as it always was.
    if (files.json && (files.eml || !plainId(id))) {
      // A view shows what it can read.
      const state = await retryWhileOutOfFiles(() => readStateFile(this.jsonPath(id, folder))).catch(() => undefined);
      if (state) return state;
    }
    if (folder !== 'queue') return undefined;
    // A missing queue.key is said, not taken for a message that is not there.
    const sealed = files.eml ? await retryWhileOutOfFiles(() => this.loadSealed(id, true)).catch((e) => { if (e instanceof QueueKeyMissingError) throw e; return undefined; }) : undefined;
    return sealed ?? journaled(id);
  }

  /** What the end of a message file holds (checkSeal); undefined when it is gone. `strict`: other open errors are thrown. */
  private async sealOf(id: string, strict = false): Promise<SealCheck | undefined> {
    let fh;
    try { fh = await open(this.emlPath(id), 'r'); } catch (e) {
      if (strict && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return undefined;
    }
    try {
      // No key and nothing that needs one: this file has a state file beside it, and no seal is looked for.
      const key = this.key.forReading();
      return key ? await checkSeal(fh, key) : { problem: 'unsealed' };
    } finally { await fh.close(); }
  }

  /** The sealed envelope of a message file; undefined when it has none that verifies, or is gone. */
  private async loadSealed(id: string, strict = false): Promise<QueueEntry | undefined> {
    const found = await this.sealOf(id, strict);
    return found && 'entry' in found ? found.entry : undefined;
  }

  async list(folder: QueueFolder = 'queue'): Promise<QueueEntry[]> {
    const names = new Set(await readdir(this.dirs[folder]));
    // Read once for the whole list: outside the owner each read goes through every segment.
    const journaled = folder === 'queue' ? this.journalRecords() : [];
    const byId = new Map(journaled.map((r) => [r.entry.id, r.entry]));
    const ids = new Set<string>();
    for (const n of names) {
      if (n.endsWith('.json')) ids.add(n.slice(0, -5));
      else if (folder === 'queue' && n.endsWith('.eml')) ids.add(n.slice(0, -4));
    }
    const out: QueueEntry[] = [];
    await forEachBounded([...ids], FOLDER_READS_IN_FLIGHT, async (id) => {
      const e = await this.entryOf(id, folder, { eml: names.has(`${id}.eml`), json: names.has(`${id}.json`) }, (x) => byId.get(x));
      if (e) out.push(e);
    });
    for (const r of journaled) if (!ids.has(r.entry.id)) out.push(r.entry);
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /**
   * After a start or crash: returns every committed message and deletes what was never acknowledged
   * (a .eml with neither a sealed envelope nor a .json, temp files). A .json that cannot be parsed is kept aside, never
   * deleted, unless the journal still holds its message. A message whose files cannot be read (too many open files,
   * permissions) is left as it is and reported in `broken` (`retried`: readBroken may find it readable later): taken
   * for a torn one, it would be deleted. Files it cannot trust (a seal or journal record that queue.key does not verify,
   * a message file shorter than its state says, a damaged journal segment's copy) go to data_dir/corrupt and are
   * reported in `broken` with `setAside` (set-aside.ts), as are those an earlier start set aside; what a start set
   * aside and now verifies is put back first. Without queue.key while sealed files are there, it throws (queue-key.ts).
   * `leftovers`: state files of no message removed from the quarantine and dead-letter folders (see removeLeftoverStates).
   */
  async recover(): Promise<{ entries: QueueEntry[]; orphans: number; broken: BrokenMessage[]; leftovers: number }> {
    const key = this.key.forTakeOver();
    const putBack = await putBackVerified(this.dataDir, key);
    if (putBack) (this.log ?? console).info('set-aside queue files verify under queue.key now: put back into the queue', { count: putBack });
    const names = new Set(await readdir(this.dirs.queue));
    const entries: QueueEntry[] = [];
    const broken: BrokenMessage[] = [];
    let orphans = 0;
    // Read (only for a .json that does not parse) before the journal is taken over: a move out of it that did not
    // finish left the message there.
    let journaled: Promise<Set<string>> | undefined;
    const inJournal = async (id: string) => (await (journaled ??= readJournalInSlices(this.journal.dir, key).then((rs) => new Set(rs.map((r) => r.entry.id))))).has(id);
    const setAside = async (id: string, files: string[], kind: 'wrong-key' | 'cut' | 'damaged', reason: string) => {
      const [moved] = await moveAside(files, asideDir(this.dataDir, 'queue'));
      broken.push({ id, path: moved, reason, retried: false, setAside: kind });
    };
    // Each decision looks only at the files of its own id, so the ids are taken in any order, several at once.
    const unreadable = Symbol('unreadable');
    const readOrKeep = async <T>(id: string, file: string, read: () => T | Promise<T>): Promise<T | typeof unreadable> => {
      try { return await retryWhileOutOfFiles(read); } catch (e) {
        broken.push({ id, path: (e as NodeJS.ErrnoException).path ?? file, reason: accessReason(e, this.dataDir), retried: true });
        return unreadable;
      }
    };
    await forEachBounded([...names], FOLDER_READS_IN_FLIGHT, async (n) => {
      if (n.endsWith('.tmp') || n.endsWith('.rewrite')) { await unlinkQuiet(path.join(this.dirs.queue, n)); return; }
      if (n.endsWith('.eml') && !names.has(n.slice(0, -4) + '.json')) {
        const id = n.slice(0, -4);
        const sealed = await readOrKeep(id, this.emlPath(id), () => this.sealOf(id, true));
        if (sealed === unreadable || !sealed) return;
        if ('entry' in sealed) { this.sealedOnly.add(sealed.entry.id); entries.push(sealed.entry); return; }
        // A seal that parses but does not verify was written by a commit (under another key, or since damaged):
        // acknowledged mail, never taken for a file still arriving.
        if (sealed.problem === 'wrong-key') return setAside(id, [this.emlPath(id)], 'wrong-key', `its sealed envelope does not verify: ${WRONG_KEY_CAUSE}`);
        if (sealed.problem === 'damaged') return setAside(id, [this.emlPath(id)], 'damaged', 'its sealed envelope verifies, but not for the message bytes before it');
        await unlinkQuiet(path.join(this.dirs.queue, n));
        orphans++;
        return;
      }
      if (!n.endsWith('.json')) return;
      const id = n.slice(0, -5);
      const state = await readOrKeep(id, path.join(this.dirs.queue, n), () => readStateFile(path.join(this.dirs.queue, n)));
      if (state === unreadable) return;
      if (!state && await inJournal(id)) {
        // A move out of the journal that a kill cut short (written by an older version without a temp file): the
        // journal record is the message; the files go, so they cannot outlive it as its only, torn, copy.
        await unlinkQuiet(path.join(this.dirs.queue, n));
        await unlinkQuiet(this.emlPath(id));
        return;
      }
      const e = state ?? await readOrKeep(id, this.emlPath(id), () => this.loadSealed(id, true));
      if (e === unreadable) return;
      // A state that reads beside a message file that does not (a restore that kept its owner) would fail each attempt.
      if (e && names.has(`${id}.eml`) && await readOrKeep(id, this.emlPath(id), () => access(this.emlPath(id), fsConstants.R_OK)) === unreadable) return;
      const cut = e && names.has(`${id}.eml`) ? this.cutShort(e) : undefined;
      if (cut) await setAside(id, [this.emlPath(id), path.join(this.dirs.queue, n)], 'cut', cut);
      else if (e && names.has(`${id}.eml`)) entries.push(e);
      // Its message file went to the set-aside folder and a kill came before the state file followed it.
      else if (!names.has(`${id}.eml`) && existsSync(path.join(asideDir(this.dataDir, 'queue'), `${id}.eml`))) await moveAside([path.join(this.dirs.queue, n)], asideDir(this.dataDir, 'queue'));
      else if (!names.has(`${id}.eml`) && this.movedOut(id)) await unlinkQuiet(path.join(this.dirs.queue, n));
      else {
        const aside = path.join(this.dirs.deadletter, `${id}.broken.json`);
        broken.push({ id, path: aside, reason: 'its state file does not parse and it has no envelope to go by: kept aside in dead-letter', retried: false });
        await rename(path.join(this.dirs.queue, n), aside).catch(() => undefined);
      }
    });
    // After the queue's own decisions: movedOut() above reads the other folders as the kill left them.
    const leftovers = await this.removeLeftoverStates();
    await this.finishReleasedCopies(entries);
    const seen = new Set(entries.map((e) => e.id));
    for (const e of await this.takeOverJournal()) {
      // A crash between a move to files and its mark in the journal leaves both: the files are the newer state.
      if (seen.has(e.id)) this.journal.done(e.id);
      else entries.push(e);
    }
    broken.push(...this.journal.setAside);
    // What earlier starts set aside and is still there is reported at each start, as unreadable messages are.
    const named = new Set(broken.map((b) => b.path));
    for (const item of setAsideItems(this.dataDir)) {
      if (!named.has(item.path)) broken.push({ id: item.id, path: item.path, reason: `set aside by an earlier start: ${item.reason}`, retried: false, setAside: item.kind });
    }
    entries.sort((a, b) => (a.id < b.id ? -1 : 1));
    broken.sort((a, b) => (a.id < b.id ? -1 : 1));
    return { entries, orphans, broken, leftovers };
  }

  /**
   * Why a message with its own file must not be delivered from it, or undefined: the file is shorter than the message
   * its state describes (a copy taken while it was written, a file system that lost its end). One stat. A journaled
   * message, or one whose bytes are held in memory, is not looked at; nor is one without a file of its own.
   */
  cutShort(e: QueueEntry, folder: QueueFolder = 'queue'): string | undefined {
    if (folder === 'queue' && (this.journal.has(e.id) || this.bodies.get(e.id)?.length === e.size)) return undefined;
    // Synchronous, as readStateFile: one stat of an inode in the cache costs less than its hand-off to the thread pool
    // (recovering 20,000 messages on a loaded 2-core machine: 0.3-1 s more through fs/promises, 0.04-0.14 s this way).
    let has: number;
    try { has = statSync(this.emlPath(e.id, folder)).size; } catch { return undefined; }
    return has < e.size ? cutShortReason(has, e.size) : undefined;
  }

  /**
   * A message whose file is cut short (cutShort), found before a delivery attempt or a release or requeue: moved to
   * data_dir/corrupt (`queue/`, `quarantine/` or `deadletter/` below it, as where it was) with its state file, logged as
   * an error, and reported, to the caller (which then drops it from its schedule, or refuses the release) and to
   * whatever counts broken messages (onSetAside); undefined for the others.
   */
  async setAsideIfCut(e: QueueEntry, folder: QueueFolder = 'queue'): Promise<BrokenMessage | undefined> {
    const reason = this.cutShort(e, folder);
    if (!reason) return undefined;
    // Its envelope goes with it: one sealed in the cut file is lost with the file's end.
    if (folder === 'queue' && !existsSync(this.jsonPath(e.id))) await this.writeState(e, 'queue');
    const [moved] = await moveAside([this.emlPath(e.id, folder), this.jsonPath(e.id, folder)], asideDir(this.dataDir, folder));
    if (folder === 'queue') {
      this.sealedOnly.delete(e.id);
      this.stateWritten(e.id);
    }
    const found: BrokenMessage = { id: e.id, path: moved, reason, retried: false, setAside: 'cut' };
    logError(this.log ?? console, SET_ASIDE_LINE, { qid: e.id, ...(folder === 'queue' ? {} : { folder }), path: moved, reason });
    for (const listener of this.setAsideListeners) listener(found);
    return found;
  }

  /**
   * Calls `listener` with each message this store sets aside from now on (setAsideIfCut), so that what counts broken
   * messages (queue_broken) counts it at once, not from the next start, which finds it in data_dir/corrupt.
   */
  onSetAside(listener: (found: BrokenMessage) => void): void {
    this.setAsideListeners.push(listener);
  }

  /**
   * A message recovery left in the queue folder because its files could not be read, read again as recovery reads
   * it (after a `chown`, without a restart); undefined once its files are gone. Throws while they still cannot be read.
   */
  async readBroken(id: string): Promise<QueueEntry | undefined> {
    const json = this.jsonPath(id);
    const eml = this.emlPath(id);
    if (!existsSync(eml)) return undefined;
    if (existsSync(json)) {
      const state = readStateFile(json);
      if (!state) throw new Error('its state file does not parse: the next start keeps it aside in dead-letter');
      await access(eml, fsConstants.R_OK);
      return state;
    }
    const sealed = await this.loadSealed(id, true);
    if (!sealed) throw new Error('its message file has no sealed envelope: the next start removes it as never acknowledged');
    this.sealedOnly.add(sealed.id);
    return sealed;
  }

  /**
   * A release from the quarantine for one recipient queues a copy, then marks the recipient done in the quarantined
   * entry (see FolderAwareActions.releaseForRecipient). A kill between the two leaves the recipient held beside its
   * queued copy: marked done here, before the copy is delivered, so it is not offered for release again.
   */
  private async finishReleasedCopies(entries: QueueEntry[]): Promise<void> {
    for (const e of entries as ReleasedCopy[]) {
      if (!e.releasedFrom) continue;
      // A quarantined entry that cannot be read or rewritten must not stop the start: the copy is delivered either
      // way, and the recipient at worst stays listed as held.
      try {
        const held = await this.load(e.releasedFrom.id, 'quarantine');
        const index = held ? heldRecipientIndex(held, e.releasedFrom.address) : -1;
        if (!held || index < 0) continue;
        markRecipientDone(held, index, { released: e.id });
        if (anyHeld(held)) await this.writeState(held, 'quarantine');
        else await this.remove(held.id, 'quarantine');
      } catch { continue; }
    }
  }

  /**
   * Removes what a kill left in the quarantine and dead-letter folders beside no message: temp files, and a .json with
   * no .eml. A move into the folder writes its .json before it renames the .eml in, and a release out of the
   * quarantine renames the .eml out before it removes the .json; so such a .json belongs to a message that is still
   * (or again) in the queue, or was never acknowledged. Kept, it would list a message that is not there.
   */
  private async removeLeftoverStates(): Promise<number> {
    let removed = 0;
    for (const folder of ['quarantine', 'deadletter'] as const) {
      const names = new Set(await readdir(this.dirs[folder]));
      for (const n of names) {
        const id = n.slice(0, -5);
        const leftover = n.endsWith('.json.tmp') || (n.endsWith('.json') && plainId(id) && !names.has(`${id}.eml`));
        if (!leftover) continue;
        await unlinkQuiet(path.join(this.dirs[folder], n));
        removed++;
      }
    }
    return removed;
  }

  /**
   * A .json left in the queue folder without its .eml by a kill during a move to another folder: the move is over once
   * that folder holds both files (dead-letter, or the quarantine a release came from), and the .json is a leftover.
   */
  private movedOut(id: string): boolean {
    for (const folder of ['deadletter', 'quarantine'] as const) {
      if (existsSync(this.emlPath(id, folder)) && existsSync(this.jsonPath(id, folder))) return true;
    }
    return false;
  }

  /** Writes a delivered copy (no smarthost configured): the outgoing bytes as a .eml under delivered/. */
  async writeDelivered(id: string, content: Readable): Promise<string> {
    const file = path.join(this.dirs.delivered, `${id}.eml`);
    const tmp = `${file}.tmp`;
    await pipeline(content, createWriteStream(tmp));
    await fsyncFile(tmp);
    await rename(tmp, file);
    return file;
  }
}

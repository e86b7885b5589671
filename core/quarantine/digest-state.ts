// The digest's progress, kept in data_dir/quarantine-digest.json: the end of the last complete period (the next digest
// lists what arrived since), and the run under way, if any: its period and the recipients whose digest is queued, so
// that a run cut short by a stop or a crash is resumed for the rest rather than sent to everyone again.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';

export const DIGEST_STATE_FILE = 'quarantine-digest.json';

/** A period whose digests are not all queued yet. `since` undefined: everything held (`--all`). */
export interface DigestRun { since: number | undefined; until: number; queued: Set<string> }

export interface DigestState {
  /** End of the last complete period (ms), undefined when no digest was sent yet. */
  last?: number;
  /**
   * When no digest was sent yet: the end of the last run, which found nobody to send one to. It times the next run
   * only; that run still lists everything held (`last` is left unset), so quarantined mail restored into data_dir
   * after a first start on an empty quarantine is not older than a period that never listed it.
   */
  checked?: number;
  run?: DigestRun;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The state as the file holds it; an empty state when there is none or it cannot be read. A file without `run` (the
 * format before progress was kept) is a complete run; `last` is read too, as some copies of the format named it so.
 */
export function readDigestState(dataDir: string): DigestState {
  let raw: { last_run?: unknown; last?: unknown; checked?: unknown; run?: { since?: unknown; until?: unknown; queued?: unknown } };
  try { raw = JSON.parse(readFileSync(path.join(dataDir, DIGEST_STATE_FILE), 'utf8')); } catch { return {}; }
  if (!raw || typeof raw !== 'object') return {};
  const lastRaw = raw.last_run ?? raw.last;
  const last = finite(lastRaw) ? lastRaw : undefined;
  const r = raw.run;
  const run = r && typeof r === 'object' && finite(r.until) && (r.since === null || finite(r.since)) && Array.isArray(r.queued)
    ? { since: r.since ?? undefined, until: r.until, queued: new Set(r.queued.filter((a): a is string => typeof a === 'string')) }
    : undefined;
  const checked = last === undefined && finite(raw.checked) ? raw.checked : undefined;
  return { ...(last !== undefined ? { last } : {}), ...(checked !== undefined ? { checked } : {}), ...(run ? { run } : {}) };
}

/** The end of the last complete period (ms), or undefined when none was sent (or the file cannot be read). */
export function readLastDigest(dataDir: string): number | undefined {
  return readDigestState(dataDir).last;
}

function stateText(state: DigestState): string {
  const last = state.last;
  return JSON.stringify({
    ...(last !== undefined ? { last_run: last, at: new Date(last).toISOString() } : {}),
    ...(last === undefined && state.checked !== undefined ? { checked: state.checked } : {}),
    ...(state.run ? { run: { since: state.run.since ?? null, until: state.run.until, queued: [...state.run.queued] } } : {}),
  });
}

/** Written whole or not at all (temp file, fsync, rename): a torn file would make the next digest list everything. */
export async function writeDigestState(dataDir: string, state: DigestState): Promise<void> {
  const file = path.join(dataDir, DIGEST_STATE_FILE);
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try { await fh.writeFile(stateText(state)); await fh.sync(); } finally { await fh.close(); }
  await rename(tmp, file);
}

/** A complete period ending at `at`, written at once (a test, or an admin's tool, sets the state so). */
export function writeLastDigest(dataDir: string, at: number): void {
  const file = path.join(dataDir, DIGEST_STATE_FILE);
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try { writeSync(fd, stateText({ last: at })); fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, file);
}

/** Progress is written once this many more recipients are served, or PROGRESS_MS after the last write, if sooner. */
const PROGRESS_EVERY = 500;
const PROGRESS_MS = 1000;

/**
 * The progress of one run, written in batches: each digest's queueing already costs fsyncs, and one more per recipient
 * would double them. Writes are serialized, each carrying every recipient marked so far.
 */
export class DigestProgress {
  readonly dataDir: string;
  readonly last: number | undefined;
  readonly run: DigestRun;
  /** Recipients queued before this process took the run over (a resumed run). */
  readonly resumed: number;
  private unsaved = 0;
  private savedAt = Date.now();
  private writes: Promise<void> = Promise.resolve();
  /** What waits for the write that records its recipient (a digest handed to delivery only once it is recorded). */
  private afterSave: Array<() => void> = [];

  constructor(dataDir: string, last: number | undefined, run: DigestRun) {
    this.dataDir = dataDir;
    this.last = last;
    this.run = run;
    this.resumed = run.queued.size;
  }

  has(address: string): boolean { return this.run.queued.has(address.toLowerCase()); }

  /**
   * Notes a digest queued for `address`; `recorded` runs once a write that names it is on disk (this call's, when the
   * batch is full, or a later one). Resolves once this call's write is done, else at once.
   */
  queued(address: string, recorded?: () => void): Promise<void> {
    this.run.queued.add(address.toLowerCase());
    if (recorded) this.afterSave.push(recorded);
    this.unsaved++;
    if (this.unsaved < PROGRESS_EVERY && Date.now() - this.savedAt < PROGRESS_MS) return Promise.resolve();
    return this.save();
  }

  /** Writes the run as it is now (its period, before the first digest is queued; the recipients served, at a stop). */
  save(): Promise<void> {
    this.unsaved = 0;
    this.savedAt = Date.now();
    // The live set, not a copy: a recipient is in it only once their digest is queued, so a later set is as true.
    return this.write({ last: this.last, run: this.run });
  }

  /**
   * Every recipient of the period is served: the period is the last complete one, and the run is forgotten. A first
   * run that had nobody to serve completes no period (DigestState.checked).
   */
  complete(): Promise<void> {
    if (this.last === undefined && this.run.since === undefined && this.run.queued.size === 0) return this.write({ checked: this.run.until });
    return this.write({ last: this.run.until });
  }

  /** Hands what waits on a write to the caller (a failed last write: the digests are queued all the same). */
  takeWaiting(): Array<() => void> {
    const waiting = this.afterSave;
    this.afterSave = [];
    return waiting;
  }

  private write(state: DigestState): Promise<void> {
    const waiting = this.takeWaiting();
    const w = this.writes.then(() => writeDigestState(this.dataDir, state)).then(() => { for (const f of waiting) f(); });
    // A failed write leaves its digests to the next one, or to the caller at the end of the run.
    this.writes = w.catch(() => { this.afterSave.unshift(...waiting); });
    return w;
  }
}

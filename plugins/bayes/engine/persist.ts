// Dictionary files on disk: atomic replacement (temp file, fsync, rename, fsync of the folder) and a lock file,
// so a crash never leaves half a dictionary and two writers (the CLI and a running gateway) never lose updates.
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Dictionary } from './dictionary.ts';
import { deserialize, formatOf, serialize, type Malformed } from './formats.ts';

export interface LockOptions {
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** A lock file older than this (ms) is taken as left behind by a crashed writer. */
  staleMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Lock files and temporary files this thread holds right now. A `moat bayes` interrupted (Ctrl-C, SIGTERM) while it
 * writes never reaches the `finally` that removes them: its signal handler removes these instead, since a lock left
 * behind makes every writer wait on it (30 s and fail, once the pid in it is another process's).
 */
const heldFiles = new Set<string>();

/**
 * Locks being taken: the lock path and the temporary file being linked to it. A signal can arrive after the link
 * made the lock but before this thread heard so; the lock is then ours if it is the same file (inode) as our
 * temporary one. The pid in it would not say so: the CLI's threads share one.
 */
const pendingLocks = new Map<string, string>();

function isSameFileSync(a: string, b: string): boolean {
  try {
    const [x, y] = [fs.statSync(a), fs.statSync(b)];
    return x.ino === y.ino && x.dev === y.dev;
  } catch {
    return false;
  }
}

/** Removes every lock and temporary file this thread holds, at once: for a signal handler about to exit. */
export function removeHeldFilesSync(): string[] {
  for (const [lockPath, tmp] of pendingLocks) if (isSameFileSync(lockPath, tmp)) heldFiles.add(lockPath);
  pendingLocks.clear();
  const removed = [...heldFiles];
  for (const f of removed) {
    try { fs.rmSync(f, { force: true }); } catch { /* going away anyway: the next writer judges what is left */ }
  }
  heldFiles.clear();
  return removed;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Why the lock file is stale (its writer gone, or it too old), or null while it is not. */
async function staleness(lockPath: string, staleMs: number): Promise<string | null> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(lockPath, 'utf8'), fsp.stat(lockPath)]);
    const pid = Number(text.split('\n')[0]);
    const since = new Date(st.mtimeMs).toISOString();
    if (!pidAlive(pid)) return `process ${text.split('\n')[0] || '(none named)'}, which took it at ${since}, is no longer running`;
    return Date.now() - st.mtimeMs > staleMs ? `process ${pid} took it at ${since}, more than ${Math.round(staleMs / 1000)} s ago` : null;
  } catch {
    return null;
  }
}

/**
 * Where a stale lock broken is told of: a `moat bayes` command says so on stderr (`noticeStaleLocks`); a gateway's
 * file thread, which has no log of its own, leaves it unset. Without a word, a writer killed with kill -9 mid-write
 * left no trace that anything had been wrong.
 */
let staleLockNotice: ((message: string) => void) | undefined;

export function noticeStaleLocks(notice: (message: string) => void): void {
  staleLockNotice = notice;
}

/**
 * Takes the lock: the lock file is written under a temporary name and hard-linked into place, so it never
 * exists without the owner's pid in it (an empty lock file would look abandoned to a waiting writer).
 */
async function tryLock(lockPath: string): Promise<boolean> {
  const tmp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
  heldFiles.add(tmp);
  try {
    // Inside the try: on a full disk the write fails after creating the file, and a gateway retrying its flush
    // every interval would otherwise leave one more such file each time.
    await fsp.writeFile(tmp, `${process.pid}\n${new Date().toISOString()}\n`);
    pendingLocks.set(lockPath, tmp);
    await fsp.link(tmp, lockPath);
    heldFiles.add(lockPath);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    pendingLocks.delete(lockPath);
    await fsp.rm(tmp, { force: true });
    heldFiles.delete(tmp);
  }
}

/** Runs `fn` while holding `<file>.lock`; a lock left by a dead process (or older than `staleMs`) is broken. */
export async function withLock<T>(file: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = file + '.lock';
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const staleMs = opts.staleMs ?? 120_000;
  await fsp.mkdir(path.dirname(file), { recursive: true });
  while (!(await tryLock(lockPath))) {
    if (await staleness(lockPath, staleMs) !== null) {
      // Move the stale lock aside under a unique name, then check it is still the stale one: if another
      // waiter broke it first and took the lock, we moved a live lock and must put it back.
      const aside = `${lockPath}.stale.${randomBytes(4).toString('hex')}`;
      try { await fsp.rename(lockPath, aside); } catch { continue; }
      const why = await staleness(aside, staleMs);
      if (why !== null) {
        await fsp.rm(aside, { force: true });
        staleLockNotice?.(`removed the stale lock ${lockPath}: ${why}`);
      } else await fsp.link(aside, lockPath).catch(() => undefined).finally(() => fsp.rm(aside, { force: true }));
      continue;
    }
    if (Date.now() > deadline) throw new Error(`dictionary ${file} is locked by another writer (${lockPath})`);
    await sleep(25 + Math.random() * 50);
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(lockPath, { force: true });
    heldFiles.delete(lockPath);
  }
}

/** Temp files of a writer that died mid-write are older than this (a dictionary is written in seconds). */
const LEFTOVER_AGE_MS = 60_000;

/**
 * Removes temp files `writeFileAtomic` left for `file` when its process was killed mid-write (Ctrl-C during a
 * long `moat bayes create`): each names its writer's pid, and only a dead writer's, old enough, is removed.
 */
async function removeLeftovers(dir: string, file: string): Promise<void> {
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try { names = await fsp.readdir(dir); } catch { return; }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length));
    if (!m || pidAlive(Number(m[1]))) continue;
    const p = path.join(dir, name);
    const st = await fsp.stat(p).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > LEFTOVER_AGE_MS) await fsp.rm(p, { force: true });
  }
}

/**
 * Gives the new file the mode, owner and group of the one it replaces. A `moat bayes merge` run as root into the
 * gateway's dictionary otherwise left it owned by root and 0644, and a gateway running as its own user could no
 * longer write what it learned. Only root may give a file away; anyone else keeps the file as theirs.
 */
async function keepOwnership(fh: fsp.FileHandle, file: string): Promise<void> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st) return;
  await fh.chmod(st.mode & 0o7777);
  if (process.getuid?.() === 0 && (st.uid !== 0 || st.gid !== 0)) await fh.chown(st.uid, st.gid);
}

/** Replaces `file` with `data` atomically: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true });
  await removeLeftovers(dir, file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  heldFiles.add(tmp);
  const fh = await fsp.open(tmp, 'w', 0o644).catch((e: unknown) => { heldFiles.delete(tmp); throw e; });
  try {
    try {
      await keepOwnership(fh, file);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (e) {
    // A write cut short by a full disk is removed at once: its pid is alive, so removeLeftovers would keep it, and a
    // gateway retrying its flush would pile one partial copy on another until nothing else could be written.
    await fsp.rm(tmp, { force: true });
    throw e;
  } finally {
    heldFiles.delete(tmp);
  }
  // The rename itself is durable only once the folder entry is on disk.
  const dh = await fsp.open(dir, 'r');
  try { await dh.sync(); } catch { /* some filesystems refuse fsync on a folder */ } finally { await dh.close(); }
}

/** Reads a dictionary file; lines it had to pass over are counted in `malformed`. */
export async function loadDictionary(file: string, malformed?: Malformed): Promise<Dictionary> {
  return deserialize(await fsp.readFile(file), formatOf(file), malformed);
}

/** Loads a dictionary, or an empty one when the file does not exist yet. */
export async function loadOrEmpty(file: string): Promise<Dictionary> {
  try {
    return await loadDictionary(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Dictionary();
    throw e;
  }
}

export async function saveDictionary(file: string, d: Dictionary): Promise<void> {
  await writeFileAtomic(file, serialize(d, formatOf(file)));
}

/**
 * Read-modify-write under the lock: loads the file as it is now, lets `change` alter it, writes it back.
 * Every writer goes through here, so concurrent trainers add to each other's counts instead of overwriting them.
 */
export async function updateDictionary(file: string, change: (d: Dictionary) => void | Promise<void>, opts?: LockOptions): Promise<Dictionary> {
  return withLock(file, async () => {
    const d = await loadOrEmpty(file);
    await change(d);
    await saveDictionary(file, d);
    return d;
  }, opts);
}

// Dictionary files on disk: atomic replacement (temp file, fsync, rename, fsync of the folder) and a lock file,
// so a crash never leaves half a dictionary and two writers (the CLI and a running gateway) never lose updates.
import { promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Dictionary } from './dictionary.ts';
import { deserialize, formatOf, serialize } from './formats.ts';

export interface LockOptions {
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** A lock file older than this (ms) is taken as left behind by a crashed writer. */
  staleMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

async function isStale(lockPath: string, staleMs: number): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(lockPath, 'utf8'), fsp.stat(lockPath)]);
    const pid = Number(text.split('\n')[0]);
    return !pidAlive(pid) || Date.now() - st.mtimeMs > staleMs;
  } catch {
    return false;
  }
}

/** Runs `fn` while holding `<file>.lock` (created exclusively; a stale one from a dead process is broken). */
export async function withLock<T>(file: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = file + '.lock';
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const staleMs = opts.staleMs ?? 120_000;
  await fsp.mkdir(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      const fh = await fsp.open(lockPath, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
      await fh.writeFile(`${process.pid}\n${new Date().toISOString()}\n`);
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await isStale(lockPath, staleMs)) { await fsp.rm(lockPath, { force: true }); continue; }
      if (Date.now() > deadline) throw new Error(`dictionary ${file} is locked by another writer (${lockPath})`);
      await sleep(25 + Math.random() * 50);
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(lockPath, { force: true });
  }
}

/** Replaces `file` with `data` atomically: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  // The rename itself is durable only once the folder entry is on disk.
  const dh = await fsp.open(dir, 'r');
  try { await dh.sync(); } catch { /* some filesystems refuse fsync on a folder */ } finally { await dh.close(); }
}

export async function loadDictionary(file: string): Promise<Dictionary> {
  return deserialize(await fsp.readFile(file, 'utf8'), formatOf(file));
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

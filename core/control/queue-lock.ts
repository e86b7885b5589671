// One owner changes the queue files at a time: the running gateway (for its whole life), or one `moat queue` editing
// the files while no gateway runs. Without it an admin's edit and a gateway that is starting, or two admins, could
// each take the journal over and write the same message's state, and a deleted message could come back.
//
// The lock is `data_dir/queue.lock`, holding the owner's pid, process start time and data_dir's real path. It appears
// whole or not at all (written to a temporary file, then hard-linked to its name, which fails when it exists). A holder
// that is no longer alive (killed with SIGKILL, a power cut) does not hold it: the next owner removes it. Nor does one
// that runs on another folder: the lock was copied with a data_dir taken from a running gateway (a backup restored
// beside it on the same host), and its holder is busy with the original.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type LockRole = 'gateway' | 'moat queue';

/** `dir`: data_dir's real path when the lock was taken (absent in locks written before it was recorded). */
export interface LockHolder { pid: number; role: LockRole; started?: string; token?: string; dir?: string }

/**
 * `unverified`: a process with that pid exists, but without /proc/<pid>/stat it cannot be told from a process that
 * got the pid after a reboot.
 */
export type HolderState = 'alive' | 'dead' | 'unverified';

export type LockAttempt = { acquired: true; release(): void } | { acquired: false; holder: LockHolder; state: HolderState };

export const lockPath = (dataDir: string) => path.join(path.resolve(dataDir), 'queue.lock');

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses), or undefined. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch { return undefined; }
}

/** The start time of a process (clock ticks since boot, field 22), which tells a holder from a later process with its pid. */
const startTime = (pid: number) => procStat(pid)?.[19];

/** data_dir's real path (symbolic links resolved), or its absolute path when it cannot be resolved. */
function realDir(dataDir: string): string {
  try { return realpathSync(dataDir); } catch { return path.resolve(dataDir); }
}

/** Whether the lock in `dataDir` names a holder that took it in another folder: a copy, not a lock on this one. */
function lockedElsewhere(holder: LockHolder, dataDir: string): boolean {
  return holder.dir !== undefined && holder.dir !== realDir(dataDir);
}

/**
 * A lock copied from a gateway that is still running on another folder, or undefined: a start takes such a lock over,
 * and says so, since the copy was made while that gateway was writing (see the README's backup section).
 */
export function copiedFromRunning(dataDir: string): LockHolder | undefined {
  const holder = readHolder(lockPath(dataDir));
  return holder && lockedElsewhere(holder, dataDir) && holderState(holder) === 'alive' ? holder : undefined;
}

/** `dataDir`: the folder whose lock names `holder`; a holder on another folder then counts as dead here. */
export function holderState(holder: LockHolder, dataDir?: string): HolderState {
  if (dataDir !== undefined && lockedElsewhere(holder, dataDir)) return 'dead';
  try { process.kill(holder.pid, 0); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EPERM') return 'dead'; }
  const stat = procStat(holder.pid);
  if (!stat || !holder.started) return 'unverified';
  // A zombie (killed, not yet reaped by its parent) answers kill(0) but holds nothing any more.
  if (stat[0] === 'Z' || stat[0] === 'X') return 'dead';
  return stat[19] === holder.started ? 'alive' : 'dead';
}

/** Who holds the lock at `file` (lockPath), or undefined when nobody does or it cannot be read. */
export function readHolder(file: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return Number.isInteger(h.pid) && h.pid > 0 ? h : undefined;
  } catch { return undefined; }
}

function unlinkQuiet(file: string): void {
  try { unlinkSync(file); } catch { /* already gone */ }
}

/** Whether a lock whose holder is in `state` may be removed; by default only a dead holder's. */
export type TakeOver = (holder: LockHolder, state: HolderState) => boolean;

/**
 * Takes the lock, or names its holder. Throws only when the lock cannot be written at all (permissions, a full
 * disk): the caller decides whether to go on without it.
 */
export function tryLock(dataDir: string, role: LockRole, takeOver: TakeOver = (_h, state) => state === 'dead'): LockAttempt {
  const file = lockPath(dataDir);
  // The token, not the pid, says whose lock it is: gateways started one after another in one process share a pid.
  const me: LockHolder = { pid: process.pid, role, started: startTime(process.pid), token: randomBytes(8).toString('hex'), dir: realDir(dataDir) };
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    // Inside the try: on a full disk the file is created and its write then fails, which left it behind empty.
    writeFileSync(tmp, JSON.stringify(me));
    for (let tries = 0; tries < 3; tries++) {
      try {
        linkSync(tmp, file);
        return { acquired: true, release: () => { if (readHolder(file)?.token === me.token) unlinkQuiet(file); } };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = readHolder(file);
      // An unreadable lock is one whose writer died before a power cut flushed it; links make it whole otherwise.
      const state = holder ? holderState(holder, dataDir) : 'dead';
      if (holder && !takeOver(holder, state)) return { acquired: false, holder, state };
      unlinkQuiet(file);
    }
    throw new Error(`cannot take ${file}: it keeps coming back`);
  } finally {
    unlinkQuiet(tmp);
  }
}

export function describeHolder(h: LockHolder): string {
  return h.role === 'gateway' ? `the gateway (pid ${h.pid})` : `another moat queue (pid ${h.pid})`;
}

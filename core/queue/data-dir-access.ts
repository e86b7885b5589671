// A data_dir restored or copied as root keeps root's files, which the gateway's own user can neither read nor
// replace. Every place that meets one (recovery, `moat queue list`, `moat doctor`, a failed start) says the same fix.
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The name of the account with `uid`, from /etc/passwd; the number itself when it has none there. */
export function accountName(uid: number): string {
  if (uid === process.getuid?.()) {
    try { return os.userInfo().username; } catch { /* no entry for our own uid (a container's) */ }
  }
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (Number(id) === uid && name) return name;
    }
  } catch { /* no passwd file to read */ }
  return String(uid);
}

/** The account the process runs as, by name. */
export const runningAccount = (): string => accountName(process.getuid?.() ?? 0);

/** Errors a `chown` mends: the running user may not open the file or folder. */
export const isAccessError = (e: unknown): boolean => ['EACCES', 'EPERM'].includes((e as NodeJS.ErrnoException)?.code ?? '');

/** The command that gives `dir` and everything below it to `account` (and its group). */
export const chownFix = (dir: string, account = runningAccount()): string => `chown -R ${account}: ${dir}`;

/** Why a file could not be read, with the fix when it is the file's ownership or mode. */
export function accessReason(e: unknown, dataDir: string): string {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? 'error';
  if (!isAccessError(e)) return `${code}: ${err?.message ?? String(e)}`;
  return `${code}: the gateway's user (${runningAccount()}) may not read it (a restore as another user?): ${chownFix(dataDir)}`;
}

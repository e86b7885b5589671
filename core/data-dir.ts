// data_dir holds queued mail, quarantined and dead-lettered messages, queue.key, the AUTH users file and the state
// store: only the gateway's own user may enter it, as Postfix keeps its queue folders to itself. `moat start` also
// runs under umask 077 (scripts/cli/start.ts), so the files inside are the gateway's user's alone as well.
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import type { Logger } from './log/types.ts';

export function keepDataDirPrivate(dir: string, log: Logger): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  try {
    chmodSync(dir, mode & 0o700);
    log.info('data_dir made private to the gateway\'s user', { dir, was: `0${mode.toString(8)}`, now: `0${(mode & 0o700).toString(8)}` });
  } catch (e) {
    // Not the owner (a data_dir another account made): the gateway still runs, and the admin is told what to do.
    log.warn('data_dir is open to other users and cannot be made private: chmod 700 it', { dir, mode: `0${mode.toString(8)}`, error: (e as Error).message });
  }
}

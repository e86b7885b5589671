// What test helpers start (child processes, temp dirs) is ended when the test process exits, however it exits.
// A `before` hook that times out leaves its `after` hook nothing to stop while the start goes on: without this,
// a Redis or clamd started that late outlived the run and its dir stayed in /tmp.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface Leftover {
  child?: ChildProcess;
  /** Removed at exit; only a dir the helper made itself. */
  dir?: string;
}

const live = new Set<Leftover>();

function endAll(): void {
  // Only synchronous work can run in an 'exit' handler: a signal, then the dir.
  for (const l of live) {
    if (l.child && l.child.exitCode === null && l.child.signalCode === null) l.child.kill('SIGKILL');
    if (l.dir) rmSync(l.dir, { recursive: true, force: true });
  }
  live.clear();
}

/** Holds `l` until the process exits; the returned function lets go of it (call it once stopped normally). */
export function holdUntilExit(l: Leftover): () => void {
  if (live.size === 0) process.once('exit', endAll);
  live.add(l);
  return () => {
    live.delete(l);
    if (live.size === 0) process.off('exit', endAll);
  };
}

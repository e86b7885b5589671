// What test helpers and benchmarks start (child processes, daemons, temp dirs) is ended when the process exits,
// however it exits. A `before` hook that times out leaves its `after` hook nothing to stop while the start goes on,
// and a benchmark interrupted with Ctrl-C never reaches its `finally`: without this, a Redis, clamd, gateway or
// Postfix started then outlived the run and its dir stayed in /tmp.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface Leftover {
  child?: ChildProcess;
  /** Synchronous clean-up of something that is not a child of this process (a daemon such as Postfix's master). */
  undo?: () => void;
  /** Removed at exit, or by the normal end; only a dir the helper made itself. */
  dir?: string;
}

const live = new Set<Leftover>();

function removeDir(l: Leftover): void {
  if (l.dir) rmSync(l.dir, { recursive: true, force: true });
}

function endAll(): void {
  // Only synchronous work can run in an 'exit' handler: signals, the undo, then the dir.
  for (const l of live) {
    if (l.child && l.child.exitCode === null && l.child.signalCode === null) l.child.kill('SIGKILL');
    try { l.undo?.(); } catch { /* the next leftover still gets its turn */ }
    removeDir(l);
  }
  live.clear();
}

/**
 * Holds `l` until the process exits. The returned function is the normal end, once the helper has stopped its child
 * or daemon itself: it removes `l.dir` and lets go of `l`.
 */
export function holdUntilExit(l: Leftover): () => void {
  if (live.size === 0) process.once('exit', endAll);
  live.add(l);
  return () => {
    removeDir(l);
    live.delete(l);
    if (live.size === 0) process.off('exit', endAll);
  };
}

/** SIGTERM, then SIGKILL if `child` has not exited within `graceMs`; resolves once it has exited (at once if it had). */
export async function endChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  // A child that already exited sends no further exit event.
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

let signalsHandled = false;

/**
 * For scripts (benchmarks), not for mocha, which handles its own signals: SIGINT, SIGTERM and SIGHUP end the
 * process through `exit`, so what `holdUntilExit` holds is cleaned up (Node's default for them skips `exit`).
 */
export function exitOnSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  const codes: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
  for (const [signal, n] of Object.entries(codes)) process.once(signal, () => process.exit(128 + n));
}

// A pool of sandbox children (sandbox-child.ts) that run filter scripts, one call per child at a time.
//
// Each call has a wall-clock deadline: past it the call fails and its child is killed and replaced, which is the only
// way to stop an endless async loop or a heap that grows towards its cap. A child that crashes or runs out of memory
// fails only the call it was running, since it never runs two.
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from '../../core/index.ts';
import type { FromChild, ScriptSource, ToChild } from './protocol.ts';

const CHILD_FILE = path.join(import.meta.dirname, 'sandbox-child.ts');
/** A child must be ready within this (Node start, vm2, and the scripts' own top-level code) plus the call timeout. */
const START_TIMEOUT_MS = 15_000;
/** A replacement that failed to start is tried again after this, so a broken machine is not a busy loop of forks. */
const RESPAWN_DELAY_MS = 1_000;
const STDERR_TAIL_CHARS = 2_000;

export type CallFailure = 'error' | 'timeout' | 'crash' | 'busy' | 'closed';
export type CallResult = { ok: true; output: unknown } | { ok: false; failure: CallFailure; message: string };

export interface PoolOptions {
  scripts: ScriptSource[];
  size: number;
  timeoutMs: number;
  memoryMb: number;
  /** How long a call may wait for a free child before it fails as `busy`. */
  maxWaitMs: number;
  maxResultChars: number;
  log: Logger;
}

/** A script that cannot be loaded (syntax error, no exported function, top-level code that throws or runs away). */
export class ScriptLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScriptLoadError';
  }
}

interface Waiting { script: number; input: string; resolve: (r: CallResult) => void; timer: NodeJS.Timeout }
interface Running { id: number; resolve: (r: CallResult) => void; timer: NodeJS.Timeout }

/** The files the child may read: its own folder (the child and its imports) and vm2 with the two packages it loads. */
let readable: string[] | undefined;
function readableDirs(): string[] {
  if (readable) return readable;
  const fromHere = createRequire(import.meta.url);
  const fromVm2 = createRequire(vm2Main());
  const packageDir = (req: NodeJS.Require, name: string) => path.dirname(req.resolve(`${name}/package.json`));
  return readable = [import.meta.dirname, packageDir(fromHere, 'vm2'), packageDir(fromVm2, 'acorn'), packageDir(fromVm2, 'acorn-walk')];
}

function vm2Main(): string {
  return createRequire(import.meta.url).resolve('vm2');
}

/**
 * The Node flags of a sandbox child. No file writes, no child processes, no workers, no addons, no WASI, no inspector:
 * the permission model allows none of them unless named. Reads are limited to the child's code and vm2 (the scripts
 * arrive over IPC). Node 24 has no network flag: network-lock.ts closes that.
 */
export function sandboxExecArgv(memoryMb: number): string[] {
  return ['--permission', ...readableDirs().map((d) => `--allow-fs-read=${d}${path.sep}`), `--max-old-space-size=${memoryMb}`, '--disable-warning=SecurityWarning'];
}

class Child {
  readonly proc: ChildProcess;
  state: 'starting' | 'idle' | 'busy' | 'gone' = 'starting';
  /** Loaded the scripts once; a child that never did is replaced only after a pause. */
  wasReady = false;
  running?: Running;
  stderr = '';
  readonly exited: Promise<void>;

  constructor(proc: ChildProcess) {
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => { this.stderr = (this.stderr + d).slice(-STDERR_TAIL_CHARS); });
    // The pool must never keep the gateway's process alive on its own; a running call holds its deadline timer.
    proc.unref();
    (proc.channel as { unref?(): void } | undefined)?.unref?.();
  }

  send(m: ToChild): void {
    try { this.proc.send(m); } catch { /* the exit handler deals with a child that is gone */ }
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }

  /** Why it died, in words for the log and the finding. */
  deathReason(memoryMb: number): string {
    if (/heap out of memory|Reached heap limit|Allocation failed/i.test(this.stderr)) return `ran out of memory (${memoryMb} MB cap)`;
    const { exitCode, signalCode } = this.proc;
    return signalCode ? `sandbox process ended by ${signalCode}` : `sandbox process exited with code ${exitCode}`;
  }
}

export class ScriptPool {
  private readonly opts: PoolOptions;
  private readonly children = new Set<Child>();
  private readonly waiting: Waiting[] = [];
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private nextId = 1;
  private closing = false;
  private drained?: () => void;

  private constructor(opts: PoolOptions) {
    this.opts = opts;
  }

  /** Starts every child and waits until each has loaded the scripts; a script that cannot load throws ScriptLoadError. */
  static async start(opts: PoolOptions): Promise<ScriptPool> {
    const pool = new ScriptPool(opts);
    const starts = Array.from({ length: opts.size }, () => pool.spawn());
    const results = await Promise.allSettled(starts);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await pool.close();
      throw (failed as PromiseRejectedResult).reason;
    }
    return pool;
  }

  /** Runs script number `script` on `input` (the snapshot as JSON). Never throws: failures are results. */
  call(script: number, input: string): Promise<CallResult> {
    if (this.closing) return Promise.resolve({ ok: false, failure: 'closed', message: 'the script pool is closed' });
    return new Promise((resolve) => {
      const entry: Waiting = {
        script, input, resolve,
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve({ ok: false, failure: 'busy', message: `no free sandbox within ${this.opts.maxWaitMs} ms (${this.opts.size} in use)` });
          this.checkDrained();
        }, this.opts.maxWaitMs),
      };
      this.waiting.push(entry);
      this.pump();
    });
  }

  /** Counts for tests and logs. */
  stats(): { children: number; idle: number; busy: number; waiting: number } {
    const list = [...this.children];
    return { children: list.length, idle: list.filter((c) => c.state === 'idle').length, busy: list.filter((c) => c.state === 'busy').length, waiting: this.waiting.length };
  }

  /** The process ids of the live children, or of those running a call (tests kill them to check replacement). */
  pids(only?: 'busy'): number[] {
    return [...this.children].filter((c) => c.state !== 'gone' && (!only || c.state === only)).map((c) => c.proc.pid!).filter(Boolean);
  }

  /**
   * Stops taking calls, lets the calls already queued or running finish (each is bounded by its wait and deadline),
   * then ends the children. A reload's old instance closes this way while messages may still be in its hands.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.respawnTimers) clearTimeout(t);
    this.respawnTimers.clear();
    if (this.waiting.length || [...this.children].some((c) => c.state === 'busy')) {
      await new Promise<void>((resolve) => { this.drained = resolve; this.checkDrained(); });
    }
    // Held while they end, so that a close is never left waiting by an event loop with nothing else to do.
    const ends = [...this.children].map((c) => { c.proc.ref(); c.kill(); return c.exited; });
    await Promise.all(ends);
    this.children.clear();
  }

  private checkDrained(): void {
    if (!this.drained || this.waiting.length || [...this.children].some((c) => c.state === 'busy')) return;
    const done = this.drained;
    this.drained = undefined;
    done();
  }

  private pump(): void {
    for (const child of this.children) {
      if (!this.waiting.length) return;
      if (child.state !== 'idle') continue;
      const next = this.waiting.shift()!;
      clearTimeout(next.timer);
      this.run(child, next);
    }
  }

  private run(child: Child, call: Waiting): void {
    const id = this.nextId++;
    child.state = 'busy';
    child.running = {
      id, resolve: call.resolve,
      timer: setTimeout(() => {
        // Resolved before the kill, so the exit handler sees no call to fail a second time.
        this.finish(child, { ok: false, failure: 'timeout', message: `no answer within ${this.opts.timeoutMs} ms` });
        child.state = 'gone';
        child.kill();
      }, this.opts.timeoutMs),
    };
    child.send({ type: 'call', id, script: call.script, input: call.input });
  }

  private finish(child: Child, result: CallResult): void {
    const running = child.running;
    if (!running) return;
    clearTimeout(running.timer);
    child.running = undefined;
    if (child.state === 'busy') child.state = 'idle';
    running.resolve(result);
  }

  /** Forks one child and resolves once it has loaded every script. */
  private spawn(): Promise<void> {
    const { memoryMb, scripts, timeoutMs, maxResultChars } = this.opts;
    const proc = fork(CHILD_FILE, [vm2Main()], {
      execPath: process.execPath,
      execArgv: sandboxExecArgv(memoryMb),
      // Nothing of the gateway's environment (credentials, NODE_OPTIONS) reaches the sandbox.
      env: {},
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const child = new Child(proc);
    this.children.add(child);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(startTimer);
        if (err) reject(err); else resolve();
      };
      const startTimer = setTimeout(() => {
        settle(new ScriptLoadError(`the script sandbox did not start within ${START_TIMEOUT_MS + timeoutMs} ms`));
        child.state = 'gone';
        child.kill();
      }, START_TIMEOUT_MS + timeoutMs);
      proc.on('message', (m: FromChild) => {
        if (m?.type === 'ready' && child.state === 'starting') {
          child.state = 'idle';
          child.wasReady = true;
          settle();
          this.pump();
          this.checkDrained();
        } else if (m?.type === 'init-error') {
          settle(new ScriptLoadError(`${m.script}: ${m.error}`));
          child.state = 'gone';
          child.kill();
        } else if (m?.type === 'result' && child.running?.id === m.id) {
          this.finish(child, m.ok ? { ok: true, output: parseOutput(m.output) } : { ok: false, failure: 'error', message: String(m.error).slice(0, 500) });
          this.pump();
          this.checkDrained();
        }
      });
      proc.once('error', () => { /* a failed fork also emits exit, handled there */ });
      proc.once('exit', () => {
        const reason = child.deathReason(memoryMb);
        child.state = 'gone';
        this.children.delete(child);
        settle(new ScriptLoadError(`the script sandbox ended while loading the scripts: ${reason}${child.stderr ? ` (${lastLine(child.stderr)})` : ''}`));
        if (child.running) {
          this.opts.log.warn('script sandbox died during a call', { reason });
          this.finish(child, { ok: false, failure: 'crash', message: reason });
        }
        // A closing pool still replaces a child while calls wait for one, so that they run rather than fail as busy.
        if (this.closing && !this.waiting.length) { this.checkDrained(); return; }
        // A child that dies while starting again and again (the machine is out of memory, say) is retried slowly;
        // calls meanwhile wait for another child, and fail as busy once their wait is over.
        const again = () => this.spawn().catch((e: Error) => this.opts.log.error('script sandbox could not be replaced', { error: e.message }));
        if (!child.wasReady) {
          const t = setTimeout(() => { this.respawnTimers.delete(t); void again(); }, RESPAWN_DELAY_MS);
          this.respawnTimers.add(t);
        } else {
          void again();
        }
      });
      child.send({ type: 'init', scripts, syncTimeoutMs: timeoutMs, maxResultChars });
    });
  }
}

function parseOutput(text: string): unknown {
  try { return JSON.parse(text); } catch { return undefined; }
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).slice(-1)[0]?.slice(0, 300) ?? '';
}

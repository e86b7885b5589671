// A pool of sandbox children (sandbox-child.ts) that run filter scripts, one call per child at a time.
//
// Each child holds ONE script and runs only that script's calls: `size` children per script. A script that got past
// vm2 owns at most its own children, so it can neither answer for another script (neutralise an admin's reject
// script) nor leave its child's globals spoiled for another script's next call.
//
// Each call has a wall-clock deadline: past it the call fails and its child is killed and replaced, which is the only
// way to stop an endless async loop or a heap that grows towards its cap. A child that crashes or runs out of memory
// fails only the call it was running, since it never runs two.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import type net from 'node:net';
import path from 'node:path';
import type { Logger } from '../../core/index.ts';
import { CHANNEL_FD } from './child-channel.ts';
import { childCode } from './child-code.ts';
import { encodeFrame, FrameError, FrameReader } from './framing.ts';
import { LOG_LIMITS } from './api.ts';
import type { ScriptLogs, ScriptSource, ToChild } from './protocol.ts';

const CHILD_FILE = path.join(import.meta.dirname, 'sandbox-child.ts');
/** What Node runs first in a child: it loads the child's modules from the JavaScript the gateway stripped (child-code.ts). */
const CHILD_LOADER = path.join(import.meta.dirname, 'child-loader.mjs');
/** A child must be ready within this (Node start, vm2, and the scripts' own top-level code) plus the call timeout. */
const START_TIMEOUT_MS = 15_000;
/** A replacement that failed to start is tried again after this, so a broken machine is not a busy loop of forks. */
const RESPAWN_DELAY_MS = 1_000;
const STDERR_TAIL_CHARS = 2_000;
/**
 * The data segment limit of a child (ulimit -d, in MB) above its heap cap: Node reserves about 550 MB of it before
 * any code runs. It bounds what the heap cap does not, should a script get past vm2: buffers allocated by the child's
 * own Node outside the V8 heap, which would otherwise grow until the machine's OOM killer picks a process, perhaps the
 * gateway.
 */
const DATA_LIMIT_BASE_MB = 768;
/**
 * A child's young generation, capped: a call's garbage is the parsed snapshot and what the script makes of it, and
 * with Node's default semi-spaces a child that has run calls on a snapshot of 500 KB (5,000 attachments) keeps about
 * 20 MB more resident memory. At 2 MB a call on such a rare snapshot takes about 15% longer (p50 4.3 to 5.0 ms), one
 * on a common 5 KB snapshot no longer; 1 MB saved nothing more and made the large one a third slower.
 */
const MEMORY_FLAGS = ['--max-semi-space-size=2'];

export type CallFailure = 'error' | 'timeout' | 'crash' | 'busy' | 'closed';
/** `logs`: what the script wrote to `console` during the call, when it wrote anything and its process lived to answer. */
export type CallResult =
  | { ok: true; output: unknown; logs?: ScriptLogs }
  | { ok: false; failure: CallFailure; message: string; logs?: ScriptLogs };

export interface PoolOptions {
  scripts: ScriptSource[];
  /** Children per script. */
  size: number;
  timeoutMs: number;
  memoryMb: number;
  /** How long a call may wait for a free child before it fails as `busy`. */
  maxWaitMs: number;
  maxResultChars: number;
  log: Logger;
  /** The child's program; tests name one that behaves as a script that got past vm2 would. */
  childFile?: string;
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
type Checked = { type: 'ready' } | { type: 'init-error'; error: string } | { type: 'result'; result: CallResult };

/** The files the child may read: its own folder (the child and its imports) and vm2 with the two packages it loads. */
let readable: string[] | undefined;
function readableDirs(childFile: string): string[] {
  if (!readable) {
    const fromHere = createRequire(import.meta.url);
    const fromVm2 = createRequire(vm2Main());
    const packageDir = (req: NodeJS.Require, name: string) => path.dirname(req.resolve(`${name}/package.json`));
    readable = [import.meta.dirname, packageDir(fromHere, 'vm2'), packageDir(fromVm2, 'acorn'), packageDir(fromVm2, 'acorn-walk')];
  }
  const own = path.dirname(childFile);
  return readable.includes(own) ? readable : [...readable, own];
}

function vm2Main(): string {
  return createRequire(import.meta.url).resolve('vm2');
}

/**
 * The Node flags of a sandbox child. No file writes, no child processes, no workers, no addons, no WASI, no inspector:
 * the permission model allows none of them unless named. Reads are limited to the child's code and vm2 (the scripts
 * arrive over the pipe). Node 24 has no network flag: network-lock.ts closes that.
 */
export function sandboxExecArgv(memoryMb: number, childFile = CHILD_FILE): string[] {
  return ['--permission', ...readableDirs(childFile).map((d) => `--allow-fs-read=${d}${path.sep}`), `--max-old-space-size=${memoryMb}`, '--disable-warning=SecurityWarning', ...MEMORY_FLAGS];
}

/**
 * The command line of a child: through /bin/sh for its data segment limit (Node cannot set one), then Node itself.
 * The limit is lowered to the hard limit the gateway runs under when that is lower (systemd's LimitDATA=, a
 * container): asking for more fails, and the child would never start.
 */
export function sandboxCommand(memoryMb: number, childFile = CHILD_FILE): [string, string[]] {
  const limitKb = (DATA_LIMIT_BASE_MB + 2 * memoryMb) * 1024;
  const script = 'l="$0"; h=$(ulimit -H -d); if [ "$h" != unlimited ] && [ "$h" -lt "$l" ]; then l="$h"; fi; ulimit -d "$l" && exec "$@"';
  return ['/bin/sh', ['-c', script, String(limitKb), process.execPath, ...sandboxExecArgv(memoryMb, childFile), CHILD_LOADER, childFile, vm2Main()]];
}

class Child {
  readonly proc: ChildProcess;
  /** The one script this child holds and runs. */
  readonly script: number;
  state: 'starting' | 'idle' | 'busy' | 'gone' = 'starting';
  /** Loaded the scripts once; a child that never did is replaced only after a pause. */
  wasReady = false;
  running?: Running;
  stderr = '';
  readonly exited: Promise<void>;

  readonly pipe: net.Socket;

  constructor(proc: ChildProcess, script: number) {
    this.proc = proc;
    this.script = script;
    this.pipe = proc.stdio[CHANNEL_FD] as net.Socket;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => { this.stderr = (this.stderr + d).slice(-STDERR_TAIL_CHARS); });
    // Write errors come with the child's end; the exit handler deals with that.
    this.pipe.on('error', () => {});
    // The pool must never keep the gateway's process alive on its own; a running call holds its deadline timer.
    proc.unref();
    this.pipe.unref();
    (proc.stderr as net.Socket | null)?.unref();
  }

  send(m: ToChild): void {
    if (this.pipe.writable) this.pipe.write(encodeFrame(m));
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
  /** Set once the close kills the children, after the calls have drained; a start that fails before is a failure. */
  private endingChildren = false;
  private drained?: () => void;

  private constructor(opts: PoolOptions) {
    this.opts = opts;
  }

  /** Starts `size` children per script and waits until each has loaded its script; one that cannot load throws ScriptLoadError. */
  static async start(opts: PoolOptions): Promise<ScriptPool> {
    const pool = new ScriptPool(opts);
    const starts = opts.scripts.flatMap((_, script) => Array.from({ length: opts.size }, () => pool.spawn(script)));
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
    if (!Number.isInteger(script) || script < 0 || script >= this.opts.scripts.length) {
      return Promise.resolve({ ok: false, failure: 'error', message: `no script number ${script}` });
    }
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
    this.endingChildren = true;
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

  /** Gives each idle child the oldest waiting call of its own script. */
  private pump(): void {
    for (const child of this.children) {
      if (!this.waiting.length) return;
      if (child.state !== 'idle') continue;
      const i = this.waiting.findIndex((w) => w.script === child.script);
      if (i < 0) continue;
      const [next] = this.waiting.splice(i, 1);
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
    // The child holds only this script, as its number 0.
    child.send({ type: 'call', id, script: 0, input: call.input });
  }

  private finish(child: Child, result: CallResult): void {
    const running = child.running;
    if (!running) return;
    clearTimeout(running.timer);
    child.running = undefined;
    if (child.state === 'busy') child.state = 'idle';
    running.resolve(result);
  }

  /** Forks one child for script number `script` and resolves once it has loaded it. */
  private spawn(script: number): Promise<void> {
    const { memoryMb, timeoutMs, maxResultChars } = this.opts;
    const [command, args] = sandboxCommand(memoryMb, this.opts.childFile);
    const proc = spawn(command, args, {
      // Nothing of the gateway's environment (credentials, NODE_OPTIONS) reaches the sandbox.
      env: {},
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    });
    const child = new Child(proc, script);
    // The child's own code, stripped of its types; a child that died at once leaves it unread, which its exit reports.
    proc.stdin?.on('error', () => {});
    proc.stdin?.end(childCode(this.opts.childFile ?? CHILD_FILE, (reason) => {
      this.opts.log.warn('script sandboxes load Node\'s TypeScript stripper themselves (about 20 MB more each)', { reason });
    }));
    this.children.add(child);
    // An answer is JSON text of at most maxResultChars characters and its console lines, each character at most 6
    // bytes once inside a frame.
    const reader = new FrameReader(6 * (maxResultChars + LOG_LIMITS.lines * (LOG_LIMITS.chars + 3)) + 4096);
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
      // Whatever the child sends is checked as if a script had taken it over: a frame the protocol does not expect at
      // this moment ends the child, so it can neither flood the gateway nor answer a call it was not given.
      const broke = (reason: string) => {
        if (child.state === 'gone') return;
        this.opts.log.warn('script sandbox broke its protocol', { reason });
        settle(new ScriptLoadError(`the script sandbox broke its protocol while loading the scripts: ${reason}`));
        this.finish(child, { ok: false, failure: 'crash', message: `sandbox process broke its protocol: ${reason}` });
        child.state = 'gone';
        child.kill();
      };
      child.pipe.on('data', (chunk: Buffer) => {
        if (child.state === 'gone') return;
        let frames: unknown[];
        try { frames = reader.push(chunk); } catch (e) {
          if (e instanceof FrameError) { broke(e.message); return; }
          throw e;
        }
        for (const frame of frames) {
          const m = checkFrame(frame, child, maxResultChars);
          if (typeof m === 'string') { broke(m); return; }
          if (m.type === 'ready') {
            child.state = 'idle';
            child.wasReady = true;
            settle();
            this.pump();
            this.checkDrained();
          } else if (m.type === 'init-error') {
            settle(new ScriptLoadError(m.error));
            child.state = 'gone';
            child.kill();
            return;
          } else {
            this.finish(child, m.result);
            this.pump();
            this.checkDrained();
          }
        }
      });
      proc.once('error', () => { /* a failed spawn also emits exit, handled there */ });
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
        if (this.closing && !this.waiting.some((w) => w.script === script)) { this.checkDrained(); return; }
        // A child that dies while starting again and again (the machine is out of memory, say) is retried slowly;
        // calls meanwhile wait for another child, and fail as busy once their wait is over.
        const again = () => this.spawn(script).catch((e: Error) => {
          // The close ends every child, a replacement still loading among them (a call timed out just before a stop
          // or reload): that is the close at work, not a sandbox that cannot start.
          if (this.endingChildren) this.opts.log.info('script sandbox replacement ended by the pool\'s close', { error: e.message });
          else this.opts.log.error('script sandbox could not be replaced', { error: e.message });
        });
        if (!child.wasReady) {
          const t = setTimeout(() => { this.respawnTimers.delete(t); void again(); }, RESPAWN_DELAY_MS);
          this.respawnTimers.add(t);
        } else {
          void again();
        }
      });
      child.send({ type: 'init', scripts: [this.opts.scripts[script]], syncTimeoutMs: timeoutMs, maxResultChars });
    });
  }
}

/** A frame from a child, checked field by field against what its state allows; a string says what is wrong. */
function checkFrame(frame: unknown, child: Child, maxResultChars: number): Checked | string {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return 'a frame that is not an object';
  const m = frame as Record<string, unknown>;
  const only = (...keys: string[]) => Object.keys(m).every((k) => keys.includes(k));
  switch (m.type) {
    case 'ready':
      if (child.state !== 'starting' || !only('type')) return 'an unexpected ready';
      return { type: 'ready' };
    case 'init-error': {
      if (child.state !== 'starting' || !only('type', 'script', 'error', 'at') || typeof m.script !== 'string' || typeof m.error !== 'string') return 'an unexpected init-error';
      const at = typeof m.at === 'string' && /^\d{1,9}:\d{1,9}$/.test(m.at) ? `:${m.at}` : '';
      return { type: 'init-error', error: `${m.script.slice(0, 200)}${at}: ${m.error.slice(0, 500)}` };
    }
    case 'result': {
      if (child.state !== 'busy' || !child.running || m.id !== child.running.id) return 'an answer to no call of its own';
      const logs = checkLogs(m.logs);
      if (logs === false) return 'console lines of the wrong shape or past their limits';
      const withLogs = logs ? { logs } : {};
      if (m.ok === true && only('type', 'id', 'ok', 'output', 'logs') && typeof m.output === 'string') {
        if (m.output.length > maxResultChars) return `an answer of ${m.output.length} characters; at most ${maxResultChars}`;
        // Text that is not JSON never comes from the child's own code; read as nothing, it would let the message pass.
        let output: unknown;
        try { output = JSON.parse(m.output); } catch { return 'an answer that is not JSON'; }
        return { type: 'result', result: { ok: true, output, ...withLogs } };
      }
      if (m.ok === false && only('type', 'id', 'ok', 'error', 'logs') && typeof m.error === 'string') {
        return { type: 'result', result: { ok: false, failure: 'error', message: m.error.slice(0, 500), ...withLogs } };
      }
      return 'an answer of the wrong shape';
    }
    default:
      return 'a frame of no known type';
  }
}

/** A call's console lines as the child's own code sends them (within LOG_LIMITS), undefined for none, false if not. */
function checkLogs(v: unknown): ScriptLogs | undefined | false {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const { lines, dropped, ...rest } = v as Record<string, unknown>;
  if (Object.keys(rest).length || !Array.isArray(lines) || lines.length > LOG_LIMITS.lines) return false;
  if (!lines.every((l) => typeof l === 'string' && l.length <= LOG_LIMITS.chars)) return false;
  if (typeof dropped !== 'number' || !Number.isSafeInteger(dropped) || dropped < 0) return false;
  return { lines: lines as string[], dropped };
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).slice(-1)[0]?.slice(0, 300) ?? '';
}

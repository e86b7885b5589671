// The gateway's side of regex-worker.ts: each message's regex tests run in one of a few worker threads, under a
// deadline counted from the moment its batch starts in a thread. A worker still busy at the deadline is ended and a
// new one started for the next message; the tests it had not answered stay unknown, so one crafted message costs at
// most one deadline of thread time. Waiting for a free thread is bounded apart (`maxWaitMs`): a message that could
// not start in time is the one that says so. With the deadline counting the wait as well, 6 messages of `(a+)+$`
// against 40 `a`s had a plain message sent 0.15 s after them deferred, its time gone in the queue behind them.
import { Worker } from 'node:worker_threads';
import type { RegexJob, RegexReply, RegexSource } from './regex-worker.ts';

export type RegexResults = Map<number, boolean>;
/** `waited`: no thread was free within the wait bound, so nothing ran (`timedOut` is then true as well). */
export type Answer = { results: RegexResults; timedOut: boolean; waited?: boolean };

/** Workers at most: more than the machine's cores would only share them; two keep one hostile message from all. */
const WORKERS = 2;

interface Pending { tests: RegexJob['tests']; waitTimer?: NodeJS.Timeout; resolve(a: Answer): void; reject(e: Error): void }

export class RegexThread {
  private readonly idle: Worker[] = [];
  private busy = 0;
  private readonly waiting: Pending[] = [];
  private nextJob = 1;
  private closed = false;
  private readonly regexes: RegexSource[];
  private readonly deadlineMs: number;
  private readonly maxWaitMs: number;
  /** Jobs that ran out of time (in a worker, or still waiting for one), for the log and tests. */
  timeouts = 0;

  constructor(regexes: RegexSource[], deadlineMs: number, maxWaitMs: number) {
    this.regexes = regexes;
    this.deadlineMs = deadlineMs;
    this.maxWaitMs = maxWaitMs;
  }

  /** Which tests matched; a test missing from the map did not finish before the deadline. */
  run(tests: RegexJob['tests']): Promise<Answer> {
    if (tests.length === 0) return Promise.resolve({ results: new Map(), timedOut: false });
    return new Promise((resolve, reject) => {
      const pending: Pending = { tests, resolve, reject };
      this.waiting.push(pending);
      this.pump();
      if (!this.waiting.includes(pending)) return;
      // Still queued behind busy threads: answered at the wait bound, not whenever a thread frees up after it.
      pending.waitTimer = setTimeout(() => {
        const at = this.waiting.indexOf(pending);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        this.timeouts++;
        resolve({ results: new Map(), timedOut: true, waited: true });
      }, this.maxWaitMs);
    });
  }

  private pump(): void {
    while (this.waiting.length && this.busy < WORKERS && !this.closed) {
      const job = this.waiting.shift()!;
      clearTimeout(job.waitTimer);
      this.busy++;
      this.runOn(this.idle.pop() ?? this.started(), job);
    }
  }

  private runOn(w: Worker, pending: Pending): void {
    const job = this.nextJob++;
    const results: RegexResults = new Map();
    const done = (keep: boolean) => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('exit', onExit);
      this.busy--;
      if (keep && !this.closed) { w.unref(); this.idle.push(w); } else void w.terminate();
      this.pump();
    };
    const onMessage = (reply: RegexReply) => {
      if (reply.job !== job) return;
      if ('done' in reply) { done(true); pending.resolve({ results, timedOut: false }); } else results.set(reply.id, reply.matched);
    };
    const onExit = (code: number) => {
      done(false);
      pending.reject(new Error(`rules regex thread stopped (exit code ${code})`));
    };
    const timer = setTimeout(() => {
      this.timeouts++;
      done(false);
      pending.resolve({ results, timedOut: true });
    }, this.deadlineMs);
    w.on('message', onMessage);
    w.once('exit', onExit);
    w.ref();
    w.postMessage({ job, tests: pending.tests } satisfies RegexJob);
  }

  private started(): Worker {
    const w = new Worker(new URL('./regex-worker.ts', import.meta.url), { workerData: { regexes: this.regexes } });
    w.unref();
    // A worker error ends it; the exit handler of the job in flight reports it, and the next job starts a new one.
    w.on('error', () => undefined);
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.waiting.splice(0)) { clearTimeout(p.waitTimer); p.resolve({ results: new Map(), timedOut: true }); }
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }
}

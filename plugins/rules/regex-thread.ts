// The gateway's side of regex-worker.ts: one message's regex tests at a time, under a deadline. A worker still busy
// at the deadline is ended and a new one started for the next message; the tests it had not answered stay unknown.
import { Worker } from 'node:worker_threads';
import type { RegexJob, RegexReply, RegexSource } from './regex-worker.ts';

export type RegexResults = Map<number, boolean>;

export class RegexThread {
  private worker: Worker | null = null;
  private nextJob = 1;
  /** Jobs run one after another, so each one's deadline counts only its own time in the worker. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly regexes: RegexSource[];
  private readonly deadlineMs: number;
  /** Workers ended at a deadline, for the log and tests. */
  timeouts = 0;

  constructor(regexes: RegexSource[], deadlineMs: number) {
    this.regexes = regexes;
    this.deadlineMs = deadlineMs;
  }

  /** Which tests matched; a test missing from the map did not finish before the deadline. */
  run(tests: RegexJob['tests']): Promise<{ results: RegexResults; timedOut: boolean }> {
    if (tests.length === 0) return Promise.resolve({ results: new Map(), timedOut: false });
    const next = this.queue.then(() => this.runNow(tests));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private runNow(tests: RegexJob['tests']): Promise<{ results: RegexResults; timedOut: boolean }> {
    const w = this.started();
    const job = this.nextJob++;
    const results: RegexResults = new Map();
    return new Promise((resolve, reject) => {
      const finish = (timedOut: boolean) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
        w.unref();
        resolve({ results, timedOut });
      };
      const onMessage = (reply: RegexReply) => {
        if (reply.job !== job) return;
        if ('done' in reply) finish(false);
        else results.set(reply.id, reply.matched);
      };
      const onExit = (code: number) => {
        clearTimeout(timer);
        if (this.worker === w) this.worker = null;
        reject(new Error(`rules regex thread stopped (exit code ${code})`));
      };
      const timer = setTimeout(() => {
        this.timeouts++;
        if (this.worker === w) this.worker = null;
        w.off('exit', onExit);
        void w.terminate();
        finish(true);
      }, this.deadlineMs);
      w.on('message', onMessage);
      w.once('exit', onExit);
      w.ref();
      w.postMessage({ job, tests } satisfies RegexJob);
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./regex-worker.ts', import.meta.url), { workerData: { regexes: this.regexes } });
    w.unref();
    // A worker error ends it; the exit handler of the job in flight reports it, and the next job starts a new one.
    w.on('error', () => undefined);
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

// The gateway's side of regex-worker.ts: each message's regex tests run in one of two worker threads under a deadline
// of running time (`deadlineMs`), counted from the moment its batch starts in a thread that has loaded its regexes. A
// worker still busy at the deadline is ended and a new one loaded; the tests it had not answered stay unknown, so one
// crafted message costs at most one deadline of thread time. Waiting for a thread is bounded apart (`maxWaitMs`, from
// the call): a message that could not start in time is the one that says so.
//
// Fairness: in one FIFO, a burst of crafted messages larger than the threads clear within max_wait (about 20 at the
// defaults) had every message behind it deferred. A client whose batch ran to its deadline is remembered for a while
// (SlowClients, by address, IPv6 by /64); its batches, those already queued included, wait in a second queue that is
// served only when no other client's batch waits, and, while other senders' mail comes in, in one thread at most: the
// other is kept for them, so that their mail waits neither for a slow batch's deadline nor for a thread to load after
// one. With no other sender (a gateway behind one relay) slow batches have both threads, as before.
import { Worker } from 'node:worker_threads';
import type { RegexJob, RegexReply, RegexSource } from './regex-worker.ts';
import { SlowClients } from './slow-clients.ts';

export type RegexResults = Map<number, boolean>;
/** For each finished test asked with `each`: the indices of its inputs that matched. */
export type RegexHits = Map<number, number[]>;
/**
 * `hits`: of the tests asked with `each` that finished (absent when nothing ran).
 * `waited`: no thread was free within the wait bound, so nothing ran (`timedOut` is then true as well).
 * `slowClient`: it waited behind other clients' mail, its client's batch having run to a deadline lately.
 */
export type Answer = { results: RegexResults; hits?: RegexHits; timedOut: boolean; waited?: boolean; slowClient?: boolean };

/** Threads running batches at most: more than the machine's cores would only share them; two keep one hostile message from all. */
const WORKERS = 2;
/** Of those, how many may run slow clients' batches while other clients' mail comes in (a batch in OTHERS_MS). */
const SLOW_WORKERS = 1;
const OTHERS_MS = 10_000;
/** Clients of the latest batches run, remembered to tell whether clients not known as slow are sending. */
const RECENT_CLIENTS = 64;
/**
 * Loaded threads kept beyond WORKERS: a thread ended at a deadline is replaced by one that takes 70-90 ms to load on an
 * idle 2-core machine and 0.3-1.3 s beside two threads backtracking, which the next message would otherwise wait for.
 */
const SPARES = 1;
/** How long a client stays behind the others after its batch hit a deadline, and how many such clients are kept. */
const SLOW_CLIENT_MS = 10 * 60_000;
const SLOW_CLIENTS_MAX = 10_000;

interface Pending {
  tests: RegexJob['tests'];
  client: string;
  slow: boolean;
  waitTimer?: NodeJS.Timeout;
  resolve(a: Answer): void;
  reject(e: Error): void;
}

export class RegexThread {
  /** Loaded threads without a batch. */
  private readonly ready: Worker[] = [];
  private starting = 0;
  private running = 0;
  private runningSlow = 0;
  /** Client → when a batch of it last started, for the latest RECENT_CLIENTS clients. */
  private readonly recent = new Map<string, number>();
  /** Batches of clients not known as slow, in arrival order; always served before `slow`. */
  private readonly normal: Pending[] = [];
  private readonly slow: Pending[] = [];
  private readonly slowClients = new SlowClients(SLOW_CLIENT_MS, SLOW_CLIENTS_MAX);
  private nextJob = 1;
  private closed = false;
  private readonly regexes: RegexSource[];
  private readonly deadlineMs: number;
  private readonly maxWaitMs: number;
  /** Batches that ran out of time (in a worker, or still waiting for one), for the log and tests. */
  timeouts = 0;

  constructor(regexes: RegexSource[], deadlineMs: number, maxWaitMs: number) {
    this.regexes = regexes;
    this.deadlineMs = deadlineMs;
    this.maxWaitMs = maxWaitMs;
    // Loaded before the first message, which would otherwise wait for it (0.3-0.5 s under a burst of connections).
    if (regexes.length) for (let i = 0; i < WORKERS + SPARES; i++) this.startWorker();
  }

  /**
   * Which tests matched; a test missing from the map did not finish before the deadline. `client` names the sender
   * (its address or network block) for fairness between senders; batches without one share a single name.
   */
  run(tests: RegexJob['tests'], client = ''): Promise<Answer> {
    if (tests.length === 0) return Promise.resolve({ results: new Map(), timedOut: false });
    if (this.closed) return Promise.resolve({ results: new Map(), timedOut: true, waited: true });
    return new Promise((resolve, reject) => {
      const pending: Pending = { tests, client, slow: this.slowClients.has(client), resolve, reject };
      (pending.slow ? this.slow : this.normal).push(pending);
      // Answered at the wait bound, not whenever a thread frees up after it.
      pending.waitTimer = setTimeout(() => this.waitedOut(pending), this.maxWaitMs);
      this.pump();
    });
  }

  private waitedOut(p: Pending): void {
    const queue = p.slow ? this.slow : this.normal;
    const at = queue.indexOf(p);
    if (at < 0) return;
    queue.splice(at, 1);
    this.timeouts++;
    p.resolve({ results: new Map(), timedOut: true, waited: true, ...(p.slow ? { slowClient: true } : {}) });
  }

  /** A batch of `client` ran to its deadline: its later batches, and those queued now, wait behind other clients'. */
  private markSlow(client: string): void {
    this.slowClients.mark(client);
    for (let i = 0; i < this.normal.length;) {
      const p = this.normal[i];
      if (p.client !== client) { i++; continue; }
      this.normal.splice(i, 1);
      p.slow = true;
      this.slow.push(p);
    }
  }

  private pump(): void {
    if (this.closed) return;
    const slowLimit = this.othersSending() ? SLOW_WORKERS : WORKERS;
    while (this.running < WORKERS && this.ready.length) {
      const p = this.normal.shift() ?? (this.runningSlow < slowLimit ? this.slow.shift() : undefined);
      if (!p) break;
      clearTimeout(p.waitTimer);
      this.runOn(this.ready.pop()!, p);
    }
    if (!this.normal.length && !this.slow.length) return;
    while (this.running + this.ready.length + this.starting < WORKERS + SPARES) this.startWorker();
  }

  private othersSending(): boolean {
    const since = performance.now() - OTHERS_MS;
    for (const [client, at] of this.recent) if (at > since && !this.slowClients.has(client)) return true;
    return false;
  }

  private runOn(w: Worker, pending: Pending): void {
    this.recent.delete(pending.client);
    this.recent.set(pending.client, performance.now());
    if (this.recent.size > RECENT_CLIENTS) this.recent.delete(this.recent.keys().next().value!);
    this.running++;
    const slow = pending.slow;
    if (slow) this.runningSlow++;
    const job = this.nextJob++;
    const results: RegexResults = new Map();
    const hits: RegexHits = new Map();
    const answer = (timedOut: boolean) => pending.resolve({ results, hits, timedOut, ...(pending.slow ? { slowClient: true } : {}) });
    const done = (keep: boolean) => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('exit', onExit);
      this.running--;
      if (slow) this.runningSlow--;
      if (keep && !this.closed) { w.unref(); this.ready.push(w); } else void w.terminate();
    };
    const onMessage = (reply: RegexReply) => {
      if (!('job' in reply) || reply.job !== job) return;
      if ('done' in reply) { done(true); answer(false); this.pump(); return; }
      results.set(reply.id, reply.matched);
      if (reply.hits) hits.set(reply.id, reply.hits);
    };
    const onExit = (code: number) => {
      done(false);
      pending.reject(new Error(`rules regex thread stopped (exit code ${code})`));
      this.pump();
    };
    const timer = setTimeout(() => {
      this.timeouts++;
      done(false);
      this.markSlow(pending.client);
      answer(true);
      this.pump();
    }, this.deadlineMs);
    w.on('message', onMessage);
    w.once('exit', onExit);
    w.ref();
    w.postMessage({ job, tests: pending.tests } satisfies RegexJob);
  }

  private startWorker(): void {
    this.starting++;
    const w = new Worker(new URL('./regex-worker.ts', import.meta.url), { workerData: { regexes: this.regexes } });
    w.unref();
    // A worker error ends it; the exit handler of the batch in flight, or of its start, reports it.
    w.on('error', () => undefined);
    const settled = () => { this.starting--; w.off('message', onReady); w.off('exit', onStartExit); };
    const onReady = (reply: RegexReply) => {
      if (!('ready' in reply)) return;
      settled();
      if (this.closed) { void w.terminate(); return; }
      this.ready.push(w);
      // A loaded thread that stops while idle is dropped, so that no batch is sent to it.
      w.once('exit', () => { const at = this.ready.indexOf(w); if (at >= 0) this.ready.splice(at, 1); });
      this.pump();
    };
    const onStartExit = (code: number) => {
      settled();
      // A thread that cannot load will not load on the next try either: the messages waiting learn why now.
      const err = new Error(`rules regex thread could not start (exit code ${code})`);
      for (const p of [...this.normal.splice(0), ...this.slow.splice(0)]) { clearTimeout(p.waitTimer); p.reject(err); }
    };
    w.on('message', onReady);
    w.once('exit', onStartExit);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of [...this.normal.splice(0), ...this.slow.splice(0)]) { clearTimeout(p.waitTimer); p.resolve({ results: new Map(), timedOut: true, waited: true }); }
    await Promise.all(this.ready.splice(0).map((w) => w.terminate()));
  }
}

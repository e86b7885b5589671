// The gateway's side of file-worker.ts: sends it requests and adopts the dictionaries it reads. The worker starts
// on first use, holds the process open only while a request is out, and is started again if it dies.
import { Worker } from 'node:worker_threads';
import { Dictionary } from './engine/dictionary.ts';
import type { FileStamp } from './file-stamp.ts';
import type { FileReply, FileRequest } from './file-worker.ts';

type Op = { op: 'load'; file: string } | { op: 'merge'; file: string; batch: Dictionary };

interface Waiting { worker: Worker; resolve: (r: { dict: Dictionary; stamp: FileStamp | null }) => void; reject: (e: Error) => void }

export class DictionaryFileThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  /** Reads a dictionary file (an empty dictionary when there is none), stamped as it was before reading. */
  load(file: string): Promise<{ dict: Dictionary; stamp: FileStamp | null }> {
    return this.call({ op: 'load', file });
  }

  /** Adds `batch` to the file under its lock (re-read, merged, written); returns the result, stamped inside the lock. */
  mergeInto(file: string, batch: Dictionary): Promise<{ dict: Dictionary; stamp: FileStamp | null }> {
    return this.call({ op: 'merge', file, batch });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private call(op: Op): Promise<{ dict: Dictionary; stamp: FileStamp | null }> {
    const w = this.started();
    const id = this.nextId++;
    // The batch is copied, not transferred: it is still scored from while the merge runs.
    const req: FileRequest = op.op === 'load' ? { id, ...op } : { id, op: 'merge', file: op.file, batch: op.batch.toState() };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { worker: w, resolve, reject });
      w.ref();
      w.postMessage(req);
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./file-worker.ts', import.meta.url));
    w.unref();
    w.on('message', (reply: FileReply) => {
      const waiting = this.waiting.get(reply.id);
      if (!waiting) return;
      this.waiting.delete(reply.id);
      if (![...this.waiting.values()].some((x) => x.worker === w)) w.unref();
      if ('error' in reply) waiting.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      else waiting.resolve({ dict: Dictionary.fromState(reply.state), stamp: reply.stamp });
    });
    // Only this worker's requests fail; the next request starts a new worker.
    const fail = (e: Error) => {
      if (this.worker === w) this.worker = null;
      for (const [id, waiting] of this.waiting) {
        if (waiting.worker !== w) continue;
        this.waiting.delete(id);
        waiting.reject(e);
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`dictionary file thread stopped (exit code ${code})`)));
    this.worker = w;
    return w;
  }
}

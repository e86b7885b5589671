// The gateway's side of file-worker.ts: sends it requests and adopts the dictionaries it reads. The worker starts
// on first use, holds the process open only while a request is out, and is started again if it dies.
import { Worker } from 'node:worker_threads';
import { Dictionary } from './engine/dictionary.ts';
import type { FileStamp } from './file-stamp.ts';
import type { Accepted, FileReply, FileRequest, Refusal } from './file-worker.ts';

export type { Accepted, Refusal };

/**
 * A dictionary read from the file, with the version of the file it came from, and (at start-up only) what was
 * wrong with a file taken anyway.
 */
export interface Loaded { dict: Dictionary; stamp: FileStamp | null; damage?: Refusal }

type Op =
  | { op: 'load'; file: string }
  | { op: 'reload'; file: string; accepted: Accepted }
  | { op: 'merge'; file: string; batch: Dictionary; accepted: Accepted; base?: Dictionary; forget?: Dictionary };

interface Waiting { worker: Worker; resolve: (r: Loaded | { refused: Refusal }) => void; reject: (e: Error) => void }

export class DictionaryFileThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  /**
   * Reads a dictionary file at start-up (an empty dictionary when there is none), stamped as it was before reading.
   * A file that cannot be read fails with an error naming it: the reader's own message says what, not where.
   */
  async load(file: string): Promise<Loaded> {
    let read: Loaded | { refused: Refusal };
    try {
      read = await this.call({ op: 'load', file });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw Object.assign(new Error(`bayes dictionary ${file} cannot be read: ${err.message}`), { code: err.code });
    }
    if ('refused' in read) throw new Error(`bayes dictionary ${file} cannot be read: ${read.refused.reason}`);
    return read;
  }

  /** Reads the file again to replace `accepted`; refused when it is missing, unreadable, or worse than `accepted`. */
  reload(file: string, accepted: Accepted): Promise<Loaded | { refused: Refusal }> {
    return this.call({ op: 'reload', file, accepted });
  }

  /**
   * Adds `batch` to the file under its lock (re-read, merged, written); returns the result, stamped inside the lock.
   * A version of the file worse than `accepted` is refused and left alone. With `base`, a missing file is written
   * from `base` plus the batch; without it a missing file is refused too. `forget`: counts of forgotten lessons to take
   * out of the file as read (`base` has them taken out already).
   */
  mergeInto(file: string, batch: Dictionary, accepted: Accepted, base?: Dictionary, forget?: Dictionary): Promise<Loaded | { refused: Refusal }> {
    return this.call({ op: 'merge', file, batch, accepted, base, forget });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private call(op: Op): Promise<Loaded | { refused: Refusal }> {
    const w = this.started();
    const id = this.nextId++;
    // Dictionaries are copied, not transferred: the gateway goes on scoring from them while the worker writes.
    const req: FileRequest = op.op !== 'merge' ? { id, ...op }
      : { id, op: 'merge', file: op.file, batch: op.batch.toState(), accepted: op.accepted, ...(op.base ? { base: op.base.toState() } : {}),
        ...(op.forget && (op.forget.size || op.forget.nspam || op.forget.nham) ? { forget: op.forget.toState() } : {}) };
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
      else if ('refused' in reply) waiting.resolve({ refused: reply.refused });
      else waiting.resolve({ dict: Dictionary.fromState(reply.state), stamp: reply.stamp, ...(reply.damage ? { damage: reply.damage } : {}) });
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

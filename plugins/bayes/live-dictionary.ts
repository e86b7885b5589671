// The dictionary a running gateway scores with: the file's counts, plus what was learned since, plus (with a
// shared store) what other gateways learned. Learned counts are merged into the file under its lock, never
// written over it, so a `moat bayes merge` running at the same time loses nothing and neither do we.
import { Dictionary } from './engine/dictionary.ts';
import { LayeredCounts } from './engine/layered-counts.ts';
import { DictionaryFileThread } from './file-thread.ts';
import { sameStamp, stamp, type FileStamp } from './file-stamp.ts';

export class LiveDictionary {
  readonly file: string;
  private base = new Dictionary();
  /** Learned here and not yet in the file. */
  private pending = new Dictionary();
  /** Being written to the file right now. */
  private flushing: Dictionary | null = null;
  /** Counts other gateways learned (from the shared store). */
  shared = new Dictionary();
  private loaded: FileStamp | null = null;
  private busy: Promise<unknown> = Promise.resolve();
  /** Reading and writing the file happen there, off the event loop every SMTP session shares. */
  private readonly files = new DictionaryFileThread();

  constructor(file: string) { this.file = file; }

  /** What scoring reads. */
  counts(): LayeredCounts {
    const layers = [this.base, this.pending, this.shared];
    if (this.flushing) layers.push(this.flushing);
    return new LayeredCounts(layers);
  }

  get baseSize(): number { return this.base.size; }

  async load(): Promise<void> {
    await this.serial(async () => {
      this.adopt(await this.files.load(this.file));
    });
  }

  /** Reloads when the file changed since it was read (another writer); returns whether it did. */
  async reloadIfChanged(force = false): Promise<boolean> {
    return this.serial(async () => {
      if (!force && sameStamp(await stamp(this.file), this.loaded)) return false;
      this.adopt(await this.files.load(this.file));
      return true;
    });
  }

  /** Records a learned message locally; `flush` later adds it to the file. */
  learn(tokens: Iterable<string>, isSpam: boolean): void {
    this.pending.learn(tokens, isSpam);
  }

  hasPending(): boolean { return this.pending.nspam + this.pending.nham > 0; }

  /** Adds the pending counts to the file as it is on disk now (re-read under the lock), then adopts the result. */
  async flush(): Promise<void> {
    if (!this.hasPending()) return;
    await this.serial(async () => {
      const batch = this.pending;
      this.pending = new Dictionary();
      this.flushing = batch;
      try {
        this.adopt(await this.files.mergeInto(this.file, batch));
        this.flushing = null;
      } catch (e) {
        // Keep what was learned; the next flush tries again.
        this.pending.merge(batch);
        throw e;
      } finally {
        this.flushing = null;
      }
    });
  }

  /** Stops the file thread (after a last `flush`, when there is anything to keep). */
  async close(): Promise<void> {
    await this.serial(() => this.files.close());
  }

  /** Scores from the dictionary the file thread read, and remembers which version of the file that was. */
  private adopt(read: { dict: Dictionary; stamp: FileStamp | null }): void {
    this.base = read.dict;
    this.loaded = read.stamp;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn, fn);
    this.busy = next.catch(() => undefined);
    return next;
  }
}

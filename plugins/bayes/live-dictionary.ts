// The dictionary a running gateway scores with: the file's counts, plus what was learned since, plus (with a
// shared store) what other gateways learned. Learned counts are merged into the file under its lock, never
// written over it, so a `moat bayes merge` running at the same time loses nothing and neither do we.
import { promises as fsp } from 'node:fs';
import { Dictionary } from './engine/dictionary.ts';
import { LayeredCounts } from './engine/layered-counts.ts';
import { loadOrEmpty, saveDictionary, withLock } from './engine/persist.ts';

interface FileStamp { mtimeMs: number; size: number; ino: number }

async function stamp(file: string): Promise<FileStamp | null> {
  try {
    const st = await fsp.stat(file);
    return { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
  } catch {
    return null;
  }
}

const same = (a: FileStamp | null, b: FileStamp | null) => a === b || (!!a && !!b && a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino);

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
      const before = await stamp(this.file);
      this.base = await loadOrEmpty(this.file);
      this.loaded = before;
    });
  }

  /** Reloads when the file changed since it was read (another writer); returns whether it did. */
  async reloadIfChanged(force = false): Promise<boolean> {
    return this.serial(async () => {
      const now = await stamp(this.file);
      if (!force && same(now, this.loaded)) return false;
      this.base = await loadOrEmpty(this.file);
      this.loaded = now;
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
        await withLock(this.file, async () => {
          const d = await loadOrEmpty(this.file);
          d.merge(batch);
          await saveDictionary(this.file, d);
          this.base = d;
          this.flushing = null;
          // Stamped inside the lock, so no other writer's change can hide behind our own.
          this.loaded = await stamp(this.file);
        });
      } catch (e) {
        // Keep what was learned; the next flush tries again.
        this.pending.merge(batch);
        throw e;
      } finally {
        this.flushing = null;
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn, fn);
    this.busy = next.catch(() => undefined);
    return next;
  }
}

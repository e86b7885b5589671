// The dictionary a running gateway scores with: the file's counts, plus what was learned since, plus (with a
// shared store) what other gateways learned. Learned counts are merged into the file under its lock, never
// written over it, so a `moat bayes merge` running at the same time loses nothing and neither do we.
//
// A version of the file that is missing, unreadable, has malformed lines or lost a model the loaded dictionary has
// is refused, at a reload and at a flush alike (file-worker.ts): the loaded dictionary is kept, and learned counts
// stay in memory rather than being written over it. A missing file is written back whole at the next flush, from
// the dictionary in memory: once the file is gone that is the only copy of it, and keeping only the learned counts
// in memory would lose everything at the next restart, which seeds a fresh dictionary. Learned counts still kept
// in memory at stop, because the file was refused all along, are written to a file of their own beside it.
import { Dictionary } from './engine/dictionary.ts';
import { LayeredCounts } from './engine/layered-counts.ts';
import { DictionaryFileThread, type Accepted, type Loaded, type Refusal } from './file-thread.ts';
import { sameStamp, stamp, type FileStamp } from './file-stamp.ts';
import { subtractCounts } from './unlearn.ts';
import { writeFileAtomic } from './engine/persist.ts';
import { serialize } from './engine/formats.ts';

/**
 * Where learned counts the dictionary `file` refused are kept at stop: beside it, named after it and the time, in TAB
 * (any dictionary `moat bayes import --merge` reads), so that a file refused for a while costs no lesson.
 */
export function asideFile(file: string, now = new Date()): string {
  return `${file}.unsaved-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tab`;
}

/**
 * A version of the dictionary file was refused. Thrown once per version (by its stamp), so a running gateway
 * warns once, not at every check, and names the file, the reason and what it does instead.
 */
export class DictionaryFileRefused extends Error {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string, message: string) {
    super(message);
    this.name = 'DictionaryFileRefused';
    this.file = file;
    this.reason = reason;
  }
}

/** What an admin can do about a file refused for lacking a model the loaded dictionary has. */
const MODELS_HELP = '`moat bayes reload` takes it anyway (scoring without that model from then on), '
  + 'or make it again with the model (`moat bayes create` or `merge` without --no-byte-grams and --no-linear)';

export class LiveDictionary {
  readonly file: string;
  private base = new Dictionary();
  /** Learned here and not yet in the file. */
  private pending = new Dictionary();
  /** Being written to the file right now. */
  private flushing: Dictionary | null = null;
  /**
   * Forgotten lessons whose counts the file holds: already taken out of `base` (and out of every version of the file
   * read until the next flush), and out of the file at that flush.
   */
  private forgetting = new Dictionary();
  /** Counts other gateways learned (from the shared store). */
  shared = new Dictionary();
  private loaded: FileStamp | null = null;
  /** The version of the file the last reload refused, and the last flush: each is warned about once. */
  private refusedReload: Refusal | null = null;
  private refusedFlush: Refusal | null = null;
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

  /**
   * Reads the file at start-up; a missing file is an empty dictionary (the plugin seeds the file before this). A file
   * with malformed lines (cut short, say) is scored with as far as it was read, but, as a damaged version met at a
   * reload, never written over: learned counts stay in memory until it is replaced. Returns that refusal for the log,
   * or null. Throws, naming the file, when it cannot be read at all.
   */
  async load(): Promise<DictionaryFileRefused | null> {
    return this.serial(async () => {
      const read = await this.files.load(this.file);
      this.adopt(read);
      if (!read.damage) return null;
      this.refusedFlush = read.damage;
      return new DictionaryFileRefused(this.file, read.damage.reason,
        `bayes dictionary ${this.file} is damaged: ${read.damage.reason}; scoring with the ${this.base.size} tokens read, but what is learned cannot be saved to it: `
        + `lessons are kept in memory, not written over the file, until it is mended (\`moat bayes import ${this.file} ${this.file}\` rewrites it without the malformed lines, `
        + `and the gateway reloads it), and at stop are written to a file beside it`);
    });
  }

  /**
   * Reloads when the file changed since it was read (another writer), or when `force`d (`moat bayes reload`);
   * returns whether it did. Throws DictionaryFileRefused the first time a version of the file is refused; later
   * checks of that version return false. A forced reload warns again, and takes a file without the models the
   * loaded dictionary has (the operator replacing it on purpose), but never a missing or damaged one.
   */
  async reloadIfChanged(force = false): Promise<boolean> {
    return this.serial(async () => {
      const now = await stamp(this.file);
      if (!force && sameStamp(now, this.loaded)) return false;
      // A file that has never existed (a recipient dictionary nothing was learned into yet) has nothing to reload.
      if (now === null && this.loaded === null) return false;
      if (!force && this.refusedReload && sameStamp(now, this.refusedReload.stamp)) return false;
      const read = await this.files.reload(this.file, this.accepted(force));
      if ('refused' in read) {
        this.refusedReload = read.refused;
        throw this.reloadRefused(read.refused);
      }
      this.refusedReload = null;
      // The version just taken is the one a flush merges into from now on: a refusal of it before (a forced reload
      // taking a file without the models) no longer holds, and left standing it kept every lesson out of the file.
      this.refusedFlush = null;
      this.adopt(read);
      // The file does not know yet what was forgotten since the last flush.
      if (this.hasForgetting()) subtractCounts(this.base, this.forgetting);
      return true;
    });
  }

  /** Records a learned message locally; `flush` later adds it to the file. */
  learn(tokens: Iterable<string>, isSpam: boolean): void {
    this.pending.learn(tokens, isSpam);
  }

  /**
   * Takes a message learned earlier (as `isSpam`, with these distinct tokens) out of the counts: out of the learned
   * counts not yet flushed as far as they hold it, else out of the file's, at once in memory and in the file at the
   * next flush. Waits for a flush under way, so that the lesson is in one place or the other.
   */
  async forget(tokens: Iterable<string>, isSpam: boolean): Promise<void> {
    await this.serial(async () => {
      const [s, h] = isSpam ? [1, 0] : [0, 1];
      const countIn = (d: Dictionary, t: string) => (isSpam ? d.spamOf(t) : d.hamOf(t));
      for (const t of tokens) {
        if (countIn(this.pending, t) > 0) this.pending.add(t, -s, -h);
        else if (countIn(this.base, t) > 0) {
          this.base.add(t, -s, -h);
          this.forgetting.add(t, s, h);
        }
      }
      const total = (d: Dictionary) => (isSpam ? d.nspam : d.nham);
      const take = (d: Dictionary) => { if (isSpam) d.nspam--; else d.nham--; };
      if (total(this.pending) > 0) take(this.pending);
      else if (total(this.base) > 0) {
        take(this.base);
        if (isSpam) this.forgetting.nspam++; else this.forgetting.nham++;
      }
    });
  }

  hasPending(): boolean { return this.pending.nspam + this.pending.nham > 0 || this.hasForgetting(); }

  private hasForgetting(): boolean { return this.forgetting.nspam + this.forgetting.nham > 0 || this.forgetting.size > 0; }

  /**
   * Adds the pending counts to the file as it is on disk now (re-read under the lock), then adopts the result.
   * A missing file is written back from the loaded dictionary, pending counts or not. A refused version of the file
   * is left alone and the pending counts kept; DictionaryFileRefused is thrown the first time for that version.
   */
  async flush(): Promise<void> {
    await this.serial(async () => {
      const now = await stamp(this.file);
      const missing = now === null && this.loaded !== null;
      if (!this.hasPending() && !missing) return;
      if (!missing && this.refusedFlush && sameStamp(now, this.refusedFlush.stamp)) return;
      const refused = await this.mergePending(missing);
      if (refused) {
        const warned = this.refusedFlush !== null && sameStamp(refused.stamp, this.refusedFlush.stamp);
        this.refusedFlush = refused;
        if (!warned) throw this.flushRefused(refused);
        return;
      }
      this.refusedFlush = null;
    });
  }

  /**
   * Stops the file thread (after a last `flush`, when there is anything to keep). Learned counts left because the file
   * was refused would go with the process: they are written to a TAB file of their own beside it (`asideFile`), and the
   * error thrown says where and how to add them to the dictionary once it is mended, for the log to say at stop.
   */
  async close(): Promise<void> {
    await this.serial(() => this.files.close());
    if (!this.hasPending() || !this.refusedFlush) return;
    const refused = `bayes dictionary ${this.file} refused (${this.refusedFlush.reason}): ${this.pendingMessages()} could not be saved to it`;
    if (this.pending.nspam + this.pending.nham === 0) throw new Error(`${refused}; lessons forgotten since the last flush stay counted in the file`);
    const aside = asideFile(this.file);
    try {
      await writeFileAtomic(aside, serialize(this.pending, 'tab'));
    } catch (e) {
      throw new Error(`${refused}, nor written to ${aside} (${String((e as Error)?.message ?? e)}): they are lost`);
    }
    throw new Error(`${refused}, so they were written to ${aside}: once the dictionary is mended, add them with \`moat bayes import ${this.file} ${aside} --merge\``);
  }

  /**
   * Sends the pending counts to the file thread and adopts what it wrote; returns the refusal when the file was not
   * taken, and the counts are pending again.
   */
  private async mergePending(missing: boolean): Promise<Refusal | null> {
    const batch = this.pending;
    const forgotten = this.forgetting;
    this.pending = new Dictionary();
    this.forgetting = new Dictionary();
    this.flushing = batch;
    let result: Loaded | { refused: Refusal } | undefined;
    try {
      result = await this.files.mergeInto(this.file, batch, this.accepted(), missing ? this.base : undefined, forgotten);
    } finally {
      // In one step with no await: between two steps, scoring and the balance rule would see the totals without the
      // batch (in neither layer), or with it twice.
      if (result && !('refused' in result)) this.adopt(result);
      else {
        // Keep what was learned and forgotten; the next flush tries again. Nothing else ran meanwhile (`serial`).
        this.pending.merge(batch);
        this.forgetting = forgotten;
      }
      this.flushing = null;
    }
    return 'refused' in result ? result.refused : null;
  }

  /** What a new version of the file is judged against; a forced reload lets the operator drop the models. */
  private accepted(force = false): Accepted {
    return { stamp: this.loaded, byteModel: !force && !!this.base.byteGrams, weights: !force && this.base.hasWeights };
  }

  private reloadRefused(r: Refusal): DictionaryFileRefused {
    const then = r.kind === 'missing' ? ', which the next flush writes back'
      : r.kind === 'models' ? `; ${MODELS_HELP}` : '';
    return new DictionaryFileRefused(this.file, r.reason,
      `bayes dictionary ${this.file} not reloaded: ${r.reason}; keeping the loaded dictionary (${this.base.size} tokens)${then}`);
  }

  private flushRefused(r: Refusal): DictionaryFileRefused {
    const until = r.kind === 'models' ? `until the file is taken or replaced (${MODELS_HELP}), and written beside it at stop`
      : r.kind === 'missing' ? 'and written with the loaded dictionary at the next flush' : 'until the file is readable and whole again, and written beside it at stop';
    return new DictionaryFileRefused(this.file, r.reason,
      `bayes dictionary ${this.file} not written to: ${r.reason}; ${this.pendingMessages()} kept in memory ${until}`);
  }

  /** "1 learned message", "3 learned messages": what a refused flush leaves in memory. */
  private pendingMessages(): string {
    const n = this.pending.nspam + this.pending.nham;
    return `${n} learned message${n === 1 ? '' : 's'}`;
  }

  /** Scores from the dictionary the file thread read, and remembers which version of the file that was. */
  private adopt(read: Loaded): void {
    this.base = read.dict;
    this.loaded = read.stamp;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn, fn);
    this.busy = next.catch(() => undefined);
    return next;
  }
}

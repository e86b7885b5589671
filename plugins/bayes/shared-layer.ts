// What this gateway scores with of the counts learned through the state store. Reading every counter at each sync
// cost two Redis commands per token and a new dictionary built on the gateway's thread: with verdict learning on,
// a namespace reaches millions of tokens, and every gateway rebuilt that every sync interval. Each lesson is now
// also logged as it is learned, and a sync applies only the lessons logged since the last one. The counters are
// read whole at start, every `fullEveryMs` (which mends anything a whole read racing a lesson may have counted
// twice), and when the log no longer holds the lessons that follow what this gateway has applied.
import { Dictionary } from './engine/dictionary.ts';
import type { SharedCounts } from './shared-counts.ts';

/** Lessons read from the log per request. */
const BATCH = 500;

export class SharedLayer {
  private readonly counts: SharedCounts;
  private readonly target: { shared: Dictionary };
  private readonly fullEveryMs: number;
  /** Where this gateway's reading of the log stands: the last lesson applied. */
  private lastId = '0';
  private lastSeq = 0;
  private fullAt = -Infinity;
  /** Lessons this gateway learned and applied at once, which the log will show it again. */
  private readonly appliedHere = new Set<number>();

  /** Keeps `target.shared` up to date with the store's counts. */
  constructor(counts: SharedCounts, target: { shared: Dictionary }, fullEveryMs: number) {
    this.counts = counts;
    this.target = target;
    this.fullEveryMs = fullEveryMs;
  }

  /** Reads what is new in the store (everything, when a whole read is due or the log cannot say). */
  async sync(now = Date.now()): Promise<void> {
    if (!this.counts.logged || now - this.fullAt >= this.fullEveryMs) return this.readAll(now);
    for (;;) {
      const lessons = await this.counts.lessonsAfter(this.lastId, BATCH);
      for (const lesson of lessons) {
        // Numbers run without a gap unless the log was trimmed past lessons this gateway never read.
        if (lesson.seq !== this.lastSeq + 1) return this.readAll(now);
        this.lastSeq = lesson.seq;
        this.lastId = lesson.id;
        if (this.appliedHere.delete(lesson.seq)) continue;
        this.target.shared.learn(lesson.tokens, lesson.spam);
      }
      if (lessons.length < BATCH) return;
    }
  }

  /**
   * A lesson this gateway just learned in the store, applied at once so that its next message is scored with it.
   * `seq` is its number in the log (undefined for a store without one); a sync that already applied it is not undone.
   */
  learned(tokens: Iterable<string>, spam: boolean, seq: number | undefined): void {
    if (seq !== undefined) {
      if (seq <= this.lastSeq) return;
      this.appliedHere.add(seq);
    }
    this.target.shared.learn(tokens, spam);
  }

  private async readAll(now: number): Promise<void> {
    // Where the log ends before the counters are read: a lesson after it is applied from the log at the next sync,
    // and one learned while they are read may be counted both ways until the next whole read.
    const end = this.counts.logged ? await this.counts.logEnd() : { id: '0', seq: 0 };
    const all = await this.counts.read();
    this.target.shared = all;
    this.lastId = end.id;
    this.lastSeq = end.seq;
    this.appliedHere.clear();
    this.fullAt = now;
  }
}

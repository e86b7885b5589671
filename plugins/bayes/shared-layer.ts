// What this gateway scores with of the counts learned through the state store. Reading every counter at each sync
// cost two Redis commands per token and a new dictionary built on the gateway's thread: with verdict learning on,
// a namespace reaches millions of tokens, and every gateway rebuilt that every sync interval. Each lesson is now
// also logged as it is learned, and a sync applies only the lessons logged since the last one. The counters are
// read whole at start, every `fullEveryMs` (which mends counters changed behind the log's back), and when the log no
// longer holds the lessons that follow what this gateway has applied. A whole read gives the counts as of one lesson
// of the log, however lessons interleave with it (shared-counts.ts `readAtLogPosition`), and the log goes on from
// there, so a lesson learned during a whole read is counted once.
//
// Lessons waiting in the store's backlog (Redis down) are applied here meanwhile, so this gateway goes on scoring
// with what it learned; each is taken out again when the store answers for it, and the store's decision applied
// instead, as for any lesson learned here. A whole read, which replaces the counts, applies those still waiting again.
import { Dictionary } from './engine/dictionary.ts';
import { LOG_BATCH, type BacklogFollower, type SharedCounts, type SharedDecision } from './shared-counts.ts';
import type { WaitingLesson } from './lesson-backlog.ts';
import { unlearn } from './unlearn.ts';

export class SharedLayer implements BacklogFollower {
  private readonly counts: SharedCounts;
  private readonly target: { shared: Dictionary };
  private readonly fullEveryMs: number;
  /** Where this gateway's reading of the log stands: the last lesson applied. */
  private lastId = '0';
  private lastSeq = 0;
  private fullAt = -Infinity;
  /** Lessons this gateway learned and applied at once, which the log will show it again. */
  private readonly appliedHere = new Set<number>();
  /** Lessons of the backlog applied here until the store answers for them, by id. */
  private readonly waiting = new Map<string, WaitingLesson>();

  /** Keeps `target.shared` up to date with the store's counts. */
  constructor(counts: SharedCounts, target: { shared: Dictionary }, fullEveryMs: number) {
    this.counts = counts;
    this.target = target;
    this.fullEveryMs = fullEveryMs;
    counts.follow(this);
  }

  /**
   * Reads what is new in the store (everything, when a whole read is due or the log cannot say). Returns 'went back'
   * when the store's numbering of lessons went back below what this gateway had applied: Redis lost what it held
   * (restarted without persistence, or from older data), and the shared counts were read again from what it has now.
   */
  async sync(now = Date.now()): Promise<'went back' | undefined> {
    // The backlog first: its lessons then come back from the log, or in a whole read, like any others.
    await this.counts.drain();
    if (!this.counts.logged || now - this.fullAt >= this.fullEveryMs) return this.readAll(now);
    for (;;) {
      const { seq, lessons } = await this.counts.logAfter(this.lastId, LOG_BATCH);
      // Checked before any lesson: an emptied Redis that has learned nothing since has no lesson to show it, and the
      // gateway went on scoring with counts the store no longer had (and whose totals its balance rule no longer saw)
      // until the next whole read, up to 10 minutes later.
      if (seq < this.lastSeq) return this.readAll(now, 'went back');
      for (const lesson of lessons) {
        // Numbers run without a gap unless the log was trimmed past lessons this gateway never read.
        if (lesson.seq !== this.lastSeq + 1) return this.readAll(now, lesson.seq <= this.lastSeq ? 'went back' : undefined);
        this.lastSeq = lesson.seq;
        this.lastId = lesson.id;
        if (this.appliedHere.delete(lesson.seq)) continue;
        if (lesson.forget) unlearn(this.target.shared, lesson.tokens, lesson.spam);
        else this.target.shared.learn(lesson.tokens, lesson.spam);
      }
      if (lessons.length < LOG_BATCH) return undefined;
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

  /** An earlier lesson this gateway just took out of the store (`forgotten.tokens`: those Redis counted), taken out here too. */
  forgot(forgotten: { seq?: number; tokens: string[] }, spam: boolean): void {
    if (forgotten.seq !== undefined) {
      if (forgotten.seq <= this.lastSeq) return;
      this.appliedHere.add(forgotten.seq);
    }
    unlearn(this.target.shared, forgotten.tokens, spam);
  }

  /** A lesson now waits in the store's backlog: scored with here meanwhile. */
  queued(lesson: WaitingLesson): void {
    this.waiting.set(lesson.id, lesson);
    this.target.shared.learn(lesson.tokens, lesson.spam);
  }

  /** The store answered for a waiting lesson (or it was dropped): its decision replaces what was applied meanwhile. */
  settled(lesson: WaitingLesson, decision: SharedDecision | null): void {
    if (this.waiting.delete(lesson.id)) this.target.shared.learn(lesson.tokens, lesson.spam, -1);
    if (decision?.learned) this.learned(lesson.tokens, lesson.spam, decision.seq);
  }

  private async readAll<T extends string | undefined>(now: number, why?: T): Promise<T | undefined> {
    const read = this.counts.logged ? await this.counts.readAtLogPosition() : { dict: await this.counts.read(), id: '0', seq: 0 };
    this.target.shared = read.dict;
    for (const l of this.waiting.values()) read.dict.learn(l.tokens, l.spam);
    this.lastId = read.id;
    this.lastSeq = read.seq;
    this.appliedHere.clear();
    this.fullAt = now;
    return why;
  }
}

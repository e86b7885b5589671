// Lessons the shared store could not take yet (Redis down, or its answer lost), kept in learning order until it can.
// Bounded by lessons and by tokens, since an outage can last longer than memory: past either bound the oldest
// lessons go first, as the newest say most about the mail arriving now, and the number dropped is counted for the log.
// The lesson being sent is out of the backlog while its call runs (shared-counts.ts), so one more may be held then.
import type { SharedBalance } from './shared-counts.ts';

/** One lesson waiting for the store. `id` is made once and sent with every attempt, so Redis counts it once. */
export interface WaitingLesson {
  /** Learning order on this gateway: a lesson whose attempt failed later than a newer one's still goes first. */
  order: number;
  id: string;
  tokens: string[];
  spam: boolean;
  rule: SharedBalance;
}

/** Lessons and tokens kept at most. 5,000 is what the shared log keeps; tokens bound memory (tens of MB). */
export const BACKLOG_LESSONS = 5000;
export const BACKLOG_TOKENS = 1_000_000;

export class LessonBacklog {
  private readonly lessons: WaitingLesson[] = [];
  private tokens = 0;
  private readonly maxLessons: number;
  private readonly maxTokens: number;
  /** Dropped since the last `takeDropped`. */
  private droppedSince = 0;

  constructor(maxLessons = BACKLOG_LESSONS, maxTokens = BACKLOG_TOKENS) {
    if (!(maxLessons >= 1) || !(maxTokens >= 1)) throw new Error('a lesson backlog must hold at least one lesson and one token');
    this.maxLessons = maxLessons;
    this.maxTokens = maxTokens;
  }

  get size(): number { return this.lessons.length; }
  get tokenCount(): number { return this.tokens; }
  get limits(): { lessons: number; tokens: number } { return { lessons: this.maxLessons, tokens: this.maxTokens }; }

  /** The oldest lesson, which must be sent first. */
  first(): WaitingLesson | undefined { return this.lessons[0]; }

  /**
   * Keeps `lesson` in its learning order and returns the lessons dropped to stay within bounds, oldest first (the
   * lesson itself among them when it alone holds more tokens than the bound allows).
   */
  add(lesson: WaitingLesson): WaitingLesson[] {
    let at = this.lessons.length;
    while (at > 0 && this.lessons[at - 1].order > lesson.order) at--;
    this.lessons.splice(at, 0, lesson);
    this.tokens += lesson.tokens.length;
    const gone: WaitingLesson[] = [];
    while (this.lessons.length > this.maxLessons || (this.tokens > this.maxTokens && this.lessons.length > 0)) {
      gone.push(this.removeAt(0));
    }
    this.droppedSince += gone.length;
    return gone;
  }

  /** Removes a lesson the store has answered for; false when it was no longer here (dropped meanwhile). */
  remove(lesson: WaitingLesson): boolean {
    const at = this.lessons.indexOf(lesson);
    if (at < 0) return false;
    this.removeAt(at);
    return true;
  }

  /** Empties the backlog, returning what it held. */
  clear(): WaitingLesson[] {
    const all = this.lessons.splice(0);
    this.tokens = 0;
    return all;
  }

  /** Lessons dropped since the last `takeDropped`. */
  get dropped(): number { return this.droppedSince; }

  /** How many lessons were dropped since the last call, and starts counting again. */
  takeDropped(): number {
    const n = this.droppedSince;
    this.droppedSince = 0;
    return n;
  }

  private removeAt(at: number): WaitingLesson {
    const [l] = this.lessons.splice(at, 1);
    this.tokens -= l.tokens.length;
    return l;
  }
}

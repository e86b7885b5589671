// Which quarantined messages a dictionary learned, and as what: sa-learn's "seen" database. A message learned as
// spam when it arrived and then released by its recipient was counted on both sides; with this record the release
// first takes the spam lesson out, and a second lesson of the same class (a second recipient releasing it) is not
// counted again. Kept by queue id, which is what the quarantine pages' feedback names, with a digest of the token
// set, so that a message whose tokens are not the ones learned (max_bytes or the tokenizer changed meanwhile) is not
// "forgotten" by counts it never added.
//
// Bounded (the oldest entries go first: a message leaves the quarantine after `queue.quarantine_lifetime`) and kept
// in a file beside the dictionary, written whole and atomically when it changed, so a restart keeps it.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from './engine/persist.ts';

/** What a message was learned as, and the digest of the tokens it was learned by. */
export interface RecordedLesson { spam: boolean; digest: string }

/** Entries kept at most per dictionary (about 50 bytes each in the file). */
export const RECORD_LESSONS = 50_000;

const FIRST_LINE = '#mailmoat-bayes-lessons 1';

/** The set of a message's tokens, whatever their order: equal digests, equal sets. */
export function tokensDigest(tokens: Iterable<string>): string {
  return createHash('sha256').update([...tokens].sort().join('\n')).digest('base64url').slice(0, 22);
}

/** The record's file for a dictionary file. */
export function recordFileOf(dictionaryFile: string): string {
  return `${dictionaryFile}.lessons`;
}

export class LessonRecord {
  readonly file: string;
  readonly max: number;
  /** By queue id, oldest first (a Map keeps insertion order). */
  private readonly lessons = new Map<string, RecordedLesson>();
  private dirty = false;

  private constructor(file: string, max: number) {
    this.file = file;
    this.max = max;
  }

  /**
   * Reads the record (none yet: empty). A file that is not a record is moved aside to `<file>.damaged` and the record
   * starts empty, so it is neither lost nor written over; `damaged` names where it went.
   */
  static async open(file: string, max = RECORD_LESSONS): Promise<{ record: LessonRecord; damaged?: string }> {
    const record = new LessonRecord(file, max);
    let text: string;
    try { text = await fsp.readFile(file, 'utf8'); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { record };
      throw e;
    }
    const lines = text.split('\n');
    const entries: Array<[string, RecordedLesson]> = [];
    let ok = lines[0] === FIRST_LINE;
    for (let i = 1; ok && i < lines.length; i++) {
      if (!lines[i]) continue;
      const f = lines[i].split('\t');
      if (f.length !== 3 || !f[0] || (f[1] !== 's' && f[1] !== 'h') || !f[2]) { ok = false; break; }
      entries.push([f[0], { spam: f[1] === 's', digest: f[2] }]);
    }
    if (!ok) {
      const aside = `${file}.damaged`;
      await fsp.rename(file, aside);
      return { record, damaged: aside };
    }
    for (const [qid, l] of entries) record.put(qid, l);
    record.dirty = false;
    return { record };
  }

  get size(): number { return this.lessons.size; }

  get(qid: string): RecordedLesson | undefined { return this.lessons.get(qid); }

  /** Notes a message's lesson as the newest; the oldest go past `max`. */
  set(qid: string, lesson: RecordedLesson): void {
    // A queue id is letters and digits; anything that would break a line of the file is not one.
    if (/[\t\r\n]/.test(qid) || !qid) return;
    this.put(qid, lesson);
    this.dirty = true;
  }

  delete(qid: string): void {
    if (this.lessons.delete(qid)) this.dirty = true;
  }

  /** Writes the record when it changed since it was read or last written. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const lines = [FIRST_LINE];
    for (const [qid, l] of this.lessons) lines.push(`${qid}\t${l.spam ? 's' : 'h'}\t${l.digest}`);
    try {
      await writeFileAtomic(this.file, `${lines.join('\n')}\n`);
    } catch (e) {
      this.dirty = true;
      throw e;
    }
  }

  private put(qid: string, lesson: RecordedLesson): void {
    this.lessons.delete(qid);
    this.lessons.set(qid, lesson);
    while (this.lessons.size > this.max) this.lessons.delete(this.lessons.keys().next().value!);
  }
}

// Queue files a start cannot trust are moved to data_dir/corrupt/ (`queue/` and `journal/` below it) and never
// deleted, as Postfix's queue manager moves a queue file it cannot use to its corrupt/ folder: a message file or a
// journal segment sealed under another queue.key (a restore without its key, files merged from another gateway), a
// message file shorter than its state says (a copy taken while it was written; of the quarantine or dead-letter, found
// so at a release or requeue, into `quarantine/` or `deadletter/` below it), and a copy of a journal segment with
// a damaged record (the records around it are recovered from the original). Each is acknowledged mail:
// logged, counted in queue_broken, listed by `moat queue list` and `moat doctor`. A start puts back into the queue
// what verifies under queue.key by then, so putting the right key back and restarting delivers them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { checkSeal } from './envelope-seal.ts';
import { DirSync } from './dir-sync.ts';
import { isSegmentName, noFindings, SCANNING, segmentScan, seqName } from './journal-record.ts';
import { parseStateFileText } from './recipient-marks.ts';
import { nextTurn } from '../text/next-turn.ts';

export const SET_ASIDE_DIR = 'corrupt';

/** The folder of data_dir that files were set aside from, and the folder below corrupt/ that keeps them. */
export type AsideFrom = 'queue' | 'journal' | 'quarantine' | 'deadletter';

export const asideDir = (dataDir: string, from: AsideFrom): string => path.join(dataDir, SET_ASIDE_DIR, from);

/** The error line for each message set aside, at a start and later. */
export const SET_ASIDE_LINE = 'queued message set aside in data_dir/corrupt: not delivered until mended';

/** Why files were set aside. */
export type AsideKind = 'wrong-key' | 'cut' | 'damaged';

/** The likely cause of a seal that does not verify, as every line about one gives it. */
export const WRONG_KEY_CAUSE = 'queue.key does not match the one these files were sealed with: was it restored?';

/** What to do about it, said once with the cause. */
export const WRONG_KEY_FIX = 'put back the queue.key they were sealed with (from the same backup, or the gateway they came from) and restart: a start puts back into the queue what verifies';

/** A damaged segment's copy is named so, and never put back: the records that verify were recovered from the original. */
const DAMAGED_MARK = '-damaged';

/** Names for a group of files in `dir` (one message's, one segment's): their own, else all with the same `~n` added. */
function freeNames(dir: string, names: string[]): string[] {
  const named = (n: number) => names.map((name) => {
    if (n === 0) return name;
    const dot = name.indexOf('.');
    return `${name.slice(0, dot)}~${n}${name.slice(dot)}`;
  });
  for (let n = 0; ; n++) {
    const candidate = named(n);
    if (!candidate.some((name) => existsSync(path.join(dir, name)))) return candidate;
  }
}

/**
 * Moves a message's files into `dir` under their own names, durably (both folders fsync'd); files that are not there
 * are left out. Returns where each went (the first is the group's main file). `rename` within data_dir: no copy, no
 * new space. (A journal segment goes with moveSegmentAside.)
 */
export async function moveAside(files: string[], dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const present = files.filter((f) => existsSync(f));
  const targets = freeNames(dir, present.map((f) => path.basename(f))).map((n) => path.join(dir, n));
  for (let i = 0; i < present.length; i++) await rename(present[i], targets[i]);
  await new DirSync(dir).sync();
  for (const from of new Set(present.map((f) => path.dirname(f)))) await new DirSync(from).sync();
  return targets;
}

/** Done marks `moveSegmentAside` moved under a name of `freeNames`: `<seq>.done` or `<seq>~<n>.done`. */
const ASIDE_MARKS_NAME = /^\d{10}(~\d+)?\.done$/;
const marksOf = (segment: string) => segment.replace(/\.seg$/, '.done');

async function syncDirs(dirs: string[]): Promise<void> {
  for (const dir of new Set(dirs)) await new DirSync(dir).sync();
}

/**
 * Moves a journal segment into `dir` with its done marks, the marks first: a crash between the two renames leaves the
 * segment where it was, which the next take-over gives its marks back (returnHalfMovedMarks) and judges again. The
 * other order would leave a segment aside without its marks, and put back so, every message delivered from it would
 * go again. A segment without a done file gets an empty one, so that marks missing beside a segment aside always mean
 * marks lost. Both folders are fsync'd after each rename. Returns where the segment went.
 */
export async function moveSegmentAside(segment: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const from = path.dirname(segment);
  const done = marksOf(segment);
  const [segName, doneName] = freeNames(dir, [path.basename(segment), path.basename(done)]);
  if (existsSync(done)) await rename(done, path.join(dir, doneName));
  else await writeFile(path.join(dir, doneName), '');
  await syncDirs([dir, from]);
  await rename(segment, path.join(dir, segName));
  await syncDirs([dir, from]);
  return path.join(dir, segName);
}

/**
 * Before a take-over reads `journalDir`: done marks alone in `aside` whose segment is still in the journal without
 * marks (a crash inside moveSegmentAside) go back beside it.
 */
export async function returnHalfMovedMarks(journalDir: string, aside: string): Promise<void> {
  const names = await readdir(aside).catch(() => [] as string[]);
  const present = new Set(names);
  let moved = false;
  // The latest name freeNames gave first, should an older move have left marks of the same segment too.
  for (const n of names.filter((x) => ASIDE_MARKS_NAME.test(x)).sort().reverse()) {
    if (present.has(n.replace(/\.done$/, '.seg'))) continue;
    const home = path.join(journalDir, n.slice(0, 10));
    if (!existsSync(`${home}.seg`) || existsSync(`${home}.done`)) continue;
    await rename(path.join(aside, n), `${home}.done`);
    moved = true;
  }
  if (moved) await syncDirs([journalDir, aside]);
}

/** Copies a damaged segment (and its done marks) into `dir` as evidence; returns the copy of the segment. */
export async function copyDamagedAside(files: string[], dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const present = files.filter((f) => existsSync(f));
  const names = freeNames(dir, present.map((f) => path.basename(f).replace(/\./, `${DAMAGED_MARK}.`)));
  for (let i = 0; i < present.length; i++) await copyFile(present[i], path.join(dir, names[i]));
  await new DirSync(dir).sync();
  return path.join(dir, names[0]);
}

/** Why a message file `has` bytes long, whose state says `size`, is not delivered. */
export const cutShortReason = (has: number, size: number): string =>
  `its message file is ${has} bytes, its state says ${size}: cut short (a copy taken while it was written?); never delivered cut`;

/** One thing in the set-aside folders, as `moat queue list`, `moat doctor` and a start's log name it. */
export interface SetAsideItem { id: string; path: string; kind: AsideKind; reason: string }

function describeMessage(dir: string, name: string, names: Set<string>): SetAsideItem {
  const id = name.slice(0, -4);
  const file = path.join(dir, name);
  const state = names.has(`${id}.json`) ? path.join(dir, `${id}.json`) : undefined;
  if (state) {
    let size: number | undefined;
    try { size = parseStateFileText(readFileSync(state, 'utf8')).size; } catch { /* described as damaged below */ }
    const has = statSync(file).size;
    if (size !== undefined && has < size) return { id, path: file, kind: 'cut', reason: cutShortReason(has, size) };
    return { id, path: file, kind: 'damaged', reason: 'its files could not be used as they are' };
  }
  return { id, path: file, kind: 'wrong-key', reason: `its sealed envelope does not verify: ${WRONG_KEY_CAUSE}` };
}

/** Why a segment aside that verifies stays there: put back without its marks, it would deliver again what it delivered. */
const marksMissing = (name: string) => `its done marks (${marksOf(name)}) are missing, so a start does not put it back: every message already delivered from it would go again; to put it back as it is, create an empty ${marksOf(name)} beside it and restart`;

function describeSegment(dir: string, name: string, names: Set<string>): SetAsideItem {
  const file = path.join(dir, name);
  if (name.includes(DAMAGED_MARK)) {
    return { id: name, path: file, kind: 'damaged', reason: 'a copy of a journal segment with damaged records: the records that verified were recovered from the original; what the damaged ones held is lost unless another copy has it' };
  }
  const reason = `a journal segment whose records do not verify: ${WRONG_KEY_CAUSE}`;
  return { id: name, path: file, kind: 'wrong-key', reason: names.has(marksOf(name)) ? reason : `${reason}; ${marksMissing(name)}` };
}

/** What the set-aside folders hold now: each message file, and each journal segment or copy of one. */
export function setAsideItems(dataDir: string): SetAsideItem[] {
  const out: SetAsideItem[] = [];
  const list = (dir: string) => { try { return readdirSync(dir); } catch { return []; } };
  // A message of the quarantine or dead-letter cut short is set aside at a release or requeue, and by a start.
  for (const from of ['queue', 'quarantine', 'deadletter'] as const) {
    const dir = asideDir(dataDir, from);
    const names = new Set(list(dir));
    for (const n of names) if (n.endsWith('.eml')) out.push(describeMessage(dir, n, names));
  }
  const journalDir = asideDir(dataDir, 'journal');
  const inJournal = new Set(list(journalDir));
  for (const n of inJournal) if (n.endsWith('.seg')) out.push(describeSegment(journalDir, n, inJournal));
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** How long a check of a segment aside holds the event loop before it lets it run (the start answers probes). */
const SLICE_MS = 10;

/** Whether a record of the segment verifies under `key`: its first one found ends the read. */
async function anyRecordVerifies(file: string, key: KeyObject): Promise<boolean> {
  const data = await readFile(file);
  let sliceStart = performance.now();
  for (const item of segmentScan(data, file, key, noFindings())) {
    if (item !== SCANNING) return true;
    if (performance.now() - sliceStart >= SLICE_MS) { await nextTurn(); sliceStart = performance.now(); }
  }
  return false;
}

/**
 * Where a segment aside goes back in `journal`, and with which done marks (undefined when it has none):
 * - its own, beside it: to the first seq past the journal's segments whose name no done file holds either;
 * - else those an interrupted put-back already moved to the seq after the last segment (the same seq comes out
 *   again, since its segment never arrived there), or those an earlier version left in the journal when it moved
 *   the segment before its marks and was cut short (`<seq>.done` with no segment of that seq). Ids are unique, so
 *   the marks of other messages in such a file cost nothing.
 */
function putBackPlace(file: string, journal: string, names: Set<string>): { target: string; done?: string } {
  const seqs = [...names].filter(isSegmentName).map((x) => Number(x.slice(0, 10)));
  let seq = Math.max(0, ...seqs) + 1;
  const own = marksOf(file);
  if (existsSync(own)) {
    while (names.has(`${seqName(seq)}.done`)) seq++;
    return { target: path.join(journal, `${seqName(seq)}.seg`), done: own };
  }
  const lone = (name: string) => names.has(`${name}.done`) && !names.has(`${name}.seg`);
  const done = [seqName(seq), path.basename(file, '.seg')].find(lone);
  return { target: path.join(journal, `${seqName(seq)}.seg`), done: done && path.join(journal, `${done}.done`) };
}

/**
 * At a start: puts back into the queue what was set aside for its key and verifies under `key` now (the right
 * queue.key was put back): a message file whose seal verifies, when the queue has no message of its id; a journal
 * segment of which a record verifies, after the journal's last segment, with its done marks (one whose marks are
 * missing stays: setAsideItems says why). Returns how many went back.
 */
export async function putBackVerified(dataDir: string, key: KeyObject): Promise<number> {
  let back = 0;
  const queueAside = asideDir(dataDir, 'queue');
  const names = new Set(await readdir(queueAside).catch(() => [] as string[]));
  for (const n of names) {
    const id = n.slice(0, -4);
    if (!n.endsWith('.eml') || id.includes('~') || names.has(`${id}.json`)) continue;
    const target = path.join(dataDir, 'queue', n);
    if (existsSync(target) || existsSync(path.join(dataDir, 'queue', `${id}.json`))) continue;
    const fh = await open(path.join(queueAside, n), 'r');
    let verified: boolean;
    try { verified = 'entry' in await checkSeal(fh, key); } finally { await fh.close(); }
    if (!verified) continue;
    await rename(path.join(queueAside, n), target);
    back++;
  }
  if (back) await syncDirs([path.join(dataDir, 'queue'), queueAside]);
  const journalAside = asideDir(dataDir, 'journal');
  const journal = path.join(dataDir, 'journal');
  for (const n of (await readdir(journalAside).catch(() => [] as string[])).filter(isSegmentName).sort()) {
    const file = path.join(journalAside, n);
    if (!await anyRecordVerifies(file, key)) continue;
    await mkdir(journal, { recursive: true });
    const { target, done } = putBackPlace(file, journal, new Set(await readdir(journal)));
    if (!done) continue;
    // The done marks first, durably: a segment back without them would deliver again what was delivered from it.
    if (done !== marksOf(target)) await rename(done, marksOf(target));
    await syncDirs([journal, path.dirname(done)]);
    await rename(file, target);
    await syncDirs([journal, journalAside]);
    back++;
  }
  return back;
}

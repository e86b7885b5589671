// The worker thread that does a running gateway's dictionary file work: reading the file, and a flush's
// read-merge-write under the file's lock. A dictionary of a million tokens takes about a second to read and half
// a second to write, and on the gateway's own thread every SMTP session would wait that long.
// The dictionary read comes back as its arrays, transferred, so the gateway adopts it without a copy.
//
// Once the gateway scores with a dictionary, a new version of the file replaces it (in memory at a reload, on disk
// at a flush) only when it is no worse: a file that is missing, unreadable, has malformed lines or lost a model the
// gateway's dictionary has is refused. Taken as it was, a truncated copy became the gateway's dictionary and the
// next flush wrote it back, making the loss permanent; a missing file became an empty dictionary.
import { parentPort } from 'node:worker_threads';
import { Dictionary, stateBuffers, type DictionaryState } from './engine/dictionary.ts';
import { formatOf, type Malformed } from './engine/formats.ts';
import { loadDictionary, saveDictionary, withLock } from './engine/persist.ts';
import { sameStamp, stamp, type FileStamp } from './file-stamp.ts';
import { subtractCounts } from './unlearn.ts';

/** The version of the file the gateway's dictionary came from, and the models it has: what a new version must keep. */
export interface Accepted {
  stamp: FileStamp | null;
  byteModel: boolean;
  weights: boolean;
}

/** Why a version of the file was not taken; `stamp` is that version's, so it is judged once, not at every check. */
export interface Refusal {
  kind: 'missing' | 'unreadable' | 'malformed' | 'models';
  reason: string;
  stamp: FileStamp | null;
}

export type FileRequest =
  | { id: number; op: 'load'; file: string }
  | { id: number; op: 'reload'; file: string; accepted: Accepted }
  | { id: number; op: 'merge'; file: string; batch: DictionaryState; accepted: Accepted; base?: DictionaryState; forget?: DictionaryState };

export type FileReply =
  | { id: number; state: DictionaryState; stamp: FileStamp | null; damage?: Refusal }
  | { id: number; refused: Refusal }
  | { id: number; error: { message: string; code?: string } };

/** A dictionary read, with what was wrong with a file taken anyway (`damage`: only at start-up), or why it was refused. */
type Read = { dict: Dictionary; stamp: FileStamp | null; damage?: Refusal } | { refused: Refusal };

function malformedReason(file: string, m: Malformed): string {
  const [one, many] = formatOf(file) === 'xml' ? ['entry', 'entries'] : ['line', 'lines'];
  const notes = [m.droppedModel, m.cutShort].filter(Boolean).map((n) => `; ${n}`).join('');
  return `${m.count} malformed ${m.count === 1 ? one : many} (the first is ${one} ${m.first})${notes}`;
}

/** What makes a new version of the file worse than the accepted dictionary, or null when nothing does. */
function flawOf(file: string, d: Dictionary, malformed: Malformed, accepted: Accepted): Pick<Refusal, 'kind' | 'reason'> | null {
  if (malformed.count > 0) return { kind: 'malformed', reason: malformedReason(file, malformed) };
  if (accepted.byteModel && !d.byteGrams) return { kind: 'models', reason: 'it has no byte model, and the loaded dictionary has one' };
  if (accepted.weights && !d.hasWeights) return { kind: 'models', reason: 'it has no linear weights, and the loaded dictionary has them' };
  return null;
}

/**
 * The file at start-up: the gateway holds nothing yet, so whatever it holds is taken, and no file is an empty
 * dictionary. Lines passed over (a file cut short, say) are reported as `damage`, so that the gateway says so and
 * does not write the rest back over it.
 */
async function readAtStart(file: string): Promise<Read> {
  // Stamped before reading: a change made while we read is seen as a change at the next check.
  const before = await stamp(file);
  const malformed: Malformed = { count: 0, first: 0 };
  let dict: Dictionary;
  try {
    dict = await loadDictionary(file, malformed);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { dict: new Dictionary(), stamp: null };
    throw e;
  }
  if (malformed.count === 0) return { dict, stamp: before };
  return { dict, stamp: before, damage: { kind: 'malformed', reason: malformedReason(file, malformed), stamp: before } };
}

/** A version of the file that would replace the accepted dictionary, or why it must not. */
async function readJudged(file: string, accepted: Accepted): Promise<Read> {
  const before = await stamp(file);
  const refuse = (flaw: Pick<Refusal, 'kind' | 'reason'>): Read => ({ refused: { ...flaw, stamp: before } });
  // Without a file ever read there is nothing to lose: the dictionary is empty until one appears.
  const missing = (): Read => accepted.stamp === null ? { dict: new Dictionary(), stamp: null } : refuse({ kind: 'missing', reason: 'the file is missing' });
  if (before === null) return missing();
  const malformed: Malformed = { count: 0, first: 0 };
  let dict: Dictionary;
  try {
    dict = await loadDictionary(file, malformed);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return missing();
    return refuse({ kind: 'unreadable', reason: String((e as Error)?.message ?? e) });
  }
  // The version already accepted was taken as it is; reading it again (a forced reload, a flush) changes nothing.
  if (sameStamp(before, accepted.stamp)) return { dict, stamp: before };
  const flaw = flawOf(file, dict, malformed, accepted);
  return flaw ? refuse(flaw) : { dict, stamp: before };
}

/**
 * Adds the batch to the file under its lock. A refused version is left as it is. A missing file is written
 * from `base` (the dictionary the gateway scores with) plus the batch, so it comes back whole.
 */
async function mergeInto(req: Extract<FileRequest, { op: 'merge' }>): Promise<Read> {
  return withLock(req.file, async () => {
    const read = await readJudged(req.file, req.accepted);
    let d: Dictionary;
    if ('dict' in read) {
      d = read.dict;
      // Lessons forgotten since the last flush that the file still counts; the gateway's copy (`base`) has none of them.
      if (req.forget) subtractCounts(d, Dictionary.fromState(req.forget));
    } else if (read.refused.kind === 'missing' && req.base) d = Dictionary.fromState(req.base);
    else return read;
    d.merge(Dictionary.fromState(req.batch));
    await saveDictionary(req.file, d);
    // Stamped inside the lock, so no other writer's change can hide behind our own.
    return { dict: d, stamp: await stamp(req.file) };
  });
}

function handle(req: FileRequest): Promise<Read> {
  if (req.op === 'load') return readAtStart(req.file);
  if (req.op === 'reload') return readJudged(req.file, req.accepted);
  return mergeInto(req);
}

parentPort!.on('message', (req: FileRequest) => {
  handle(req).then(
    (read) => {
      if ('refused' in read) {
        parentPort!.postMessage({ id: req.id, refused: read.refused } satisfies FileReply);
        return;
      }
      const state = read.dict.toState();
      const damage = read.damage ? { damage: read.damage } : {};
      parentPort!.postMessage({ id: req.id, state, stamp: read.stamp, ...damage } satisfies FileReply, stateBuffers(state));
    },
    (e: unknown) => {
      const err = e as NodeJS.ErrnoException;
      parentPort!.postMessage({ id: req.id, error: { message: String(err?.message ?? e), code: err?.code } } satisfies FileReply);
    },
  );
});

// The worker thread that does a running gateway's dictionary file work: reading the file, and a flush's
// read-merge-write under the file's lock. A dictionary of a million tokens takes about a second to read and half
// a second to write, and on the gateway's own thread every SMTP session would wait that long.
// The dictionary read comes back as its arrays, transferred, so the gateway adopts it without a copy.
import { parentPort } from 'node:worker_threads';
import { Dictionary, stateBuffers, type DictionaryState } from './engine/dictionary.ts';
import { loadOrEmpty, saveDictionary, withLock } from './engine/persist.ts';
import { stamp, type FileStamp } from './file-stamp.ts';

export type FileRequest =
  | { id: number; op: 'load'; file: string }
  | { id: number; op: 'merge'; file: string; batch: DictionaryState };

export type FileReply =
  | { id: number; state: DictionaryState; stamp: FileStamp | null }
  | { id: number; error: { message: string; code?: string } };

async function handle(req: FileRequest): Promise<{ dict: Dictionary; stamp: FileStamp | null }> {
  if (req.op === 'load') {
    // Stamped before reading: a change made while we read is seen as a change at the next check.
    const before = await stamp(req.file);
    return { dict: await loadOrEmpty(req.file), stamp: before };
  }
  return withLock(req.file, async () => {
    const d = await loadOrEmpty(req.file);
    d.merge(Dictionary.fromState(req.batch));
    await saveDictionary(req.file, d);
    // Stamped inside the lock, so no other writer's change can hide behind our own.
    return { dict: d, stamp: await stamp(req.file) };
  });
}

parentPort!.on('message', (req: FileRequest) => {
  handle(req).then(
    ({ dict, stamp: st }) => {
      const state = dict.toState();
      parentPort!.postMessage({ id: req.id, state, stamp: st } satisfies FileReply, stateBuffers(state));
    },
    (e: unknown) => {
      const err = e as NodeJS.ErrnoException;
      parentPort!.postMessage({ id: req.id, error: { message: String(err?.message ?? e), code: err?.code } } satisfies FileReply);
    },
  );
});

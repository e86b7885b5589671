// The dictionary file thread lives only while it has requests: idle after reading the dictionary it held about 18 MB.
// Each request after that (a reload, a flush, the one at stop) starts a thread again, and gets its answer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { DictionaryFileThread } from '../../../plugins/bayes/file-thread.ts';
import { stamp } from '../../../plugins/bayes/file-stamp.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

/** This process's threads, as the kernel counts them: a worker thread is one of them while it runs. */
const threads = () => fs.readdirSync('/proc/self/task').length;

function sample(tokens: number): Dictionary {
  const d = new Dictionary();
  for (let i = 0; i < tokens; i++) d.learn([`w${i}`, `p${i % 31}~w${i}`], i % 3 === 0);
  return d;
}

describe('bayes dictionary file thread, idle', () => {
  let dir: string;
  let files: DictionaryFileThread;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-idle-'));
    files = new DictionaryFileThread();
  });
  afterEach(async () => {
    await files.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ends its thread once every request is answered, and starts one for each request after', async () => {
    const f = path.join(dir, 'd.tab');
    await saveDictionary(f, sample(5_000));
    const before = threads();
    const loading = files.load(f);
    assert.equal(threads(), before + 1, 'a thread for the request');
    const { dict, stamp: loaded } = await loading;
    assert.equal(dict.size, sample(5_000).size);
    await waitUntil(() => `the thread to end (${threads()} threads, ${before} before)`, () => threads() === before);

    // Two requests at once share one thread, which ends after the second answer.
    const accepted = { stamp: loaded, byteModel: false, weights: false };
    const batch = new Dictionary();
    batch.learn(['learned-while-idle'], true);
    const [reloaded, merged] = await Promise.all([files.reload(f, accepted), files.mergeInto(f, batch, accepted)]);
    assert.ok('dict' in reloaded && reloaded.dict.size === dict.size);
    assert.ok('dict' in merged && merged.dict.spamOf('learned-while-idle') === 1);
    assert.equal((await loadDictionary(f)).spamOf('learned-while-idle'), 1, 'written to the file');
    await waitUntil(() => `the thread to end again (${threads()} threads, ${before} before)`, () => threads() === before);

    // The flush at stop: a request, then close, as LiveDictionary.close does.
    batch.learn(['learned-at-stop'], false);
    const last = await files.mergeInto(f, batch, { ...accepted, stamp: await stamp(f) });
    assert.ok('dict' in last && last.dict.hamOf('learned-at-stop') === 1);
    await files.close();
    assert.equal(threads(), before, 'no thread left after close');
    assert.equal((await loadDictionary(f)).hamOf('learned-at-stop'), 1);
  });
});

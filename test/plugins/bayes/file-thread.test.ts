// The gateway's dictionary file thread: reading and the locked read-merge-write happen on a worker thread, and
// what it read arrives whole (its arrays transferred); failures come back as errors and the thread is restarted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { loadDictionary, saveDictionary, updateDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { DictionaryFileThread } from '../../../plugins/bayes/file-thread.ts';

function sample(tokens: number): Dictionary {
  const d = new Dictionary();
  for (let i = 0; i < tokens; i++) d.learn([`w${i}`, `p${i % 97}~w${i}`, `ü${i % 13}`], i % 3 === 0);
  return d;
}

describe('bayes dictionary file thread', () => {
  let dir: string;
  let files: DictionaryFileThread;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-thread-'));
    files = new DictionaryFileThread();
  });
  afterEach(async () => {
    await files.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads a dictionary on the worker into the same counts as reading it here, and a missing file as empty', async () => {
    const f = path.join(dir, 'd.tab');
    await saveDictionary(f, sample(20_000));
    const here = await loadDictionary(f);
    const { dict, stamp } = await files.load(f);
    assert.deepEqual([dict.nspam, dict.nham, dict.size], [here.nspam, here.nham, here.size]);
    assert.deepEqual([...dict.entries()], [...here.entries()]);
    assert.equal(stamp?.size, fs.statSync(f).size);
    // The adopted dictionary is a working one: it learns and finds new tokens.
    dict.learn(['new-token'], true);
    assert.equal(dict.spamOf('new-token'), 1);
    const none = await files.load(path.join(dir, 'missing.tab'));
    assert.deepEqual([none.dict.size, none.stamp], [0, null]);
  });

  it('merges a batch into the file under its lock, adding to what another writer saved at the same time', async () => {
    const f = path.join(dir, 'd.tab');
    await saveDictionary(f, sample(1_000));
    const batch = new Dictionary();
    batch.learn(['w1', 'only-in-batch'], false);
    const others = Array.from({ length: 5 }, () => updateDictionary(f, (d) => d.learn(['from-cli'], true)));
    const [merged] = await Promise.all([files.mergeInto(f, batch), ...others]);
    const onDisk = await loadDictionary(f);
    assert.equal(onDisk.spamOf('from-cli'), 5, 'no writer lost');
    assert.equal(onDisk.hamOf('only-in-batch'), 1);
    assert.equal(onDisk.hamOf('w1'), sample(1_000).hamOf('w1') + 1);
    assert.ok(merged.dict.hamOf('only-in-batch') === 1 && merged.stamp !== null);
    // The batch was copied, not moved: it is still readable here (the gateway scores from it during a flush).
    assert.equal(batch.hamOf('only-in-batch'), 1);
  });

  it('a file that is no dictionary comes back as an error, and the thread goes on serving', async () => {
    const bad = path.join(dir, 'bad.tab');
    fs.writeFileSync(bad, 'token\t1\t2\n');
    await assert.rejects(files.load(bad), /not a TAB dictionary/);
    const good = path.join(dir, 'good.tab');
    await saveDictionary(good, sample(10));
    assert.equal((await files.load(good)).dict.size, sample(10).size);
  });

  it('requests out when the thread stops fail, and the next request starts a new thread', async () => {
    const f = path.join(dir, 'd.tab');
    await saveDictionary(f, sample(50_000));
    const pending = files.load(f);
    await files.close();
    await assert.rejects(pending, /stopped/);
    assert.equal((await files.load(f)).dict.size, sample(50_000).size);
  });
});

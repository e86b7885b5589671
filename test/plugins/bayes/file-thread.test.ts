// The gateway's dictionary file thread: reading and the locked read-merge-write happen on a worker thread, and
// what it read arrives whole (its arrays transferred); failures come back as errors and the thread is restarted.
// A version of the file worse than the dictionary the gateway holds is refused, at a reload and at a merge.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { loadDictionary, saveDictionary, updateDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { DictionaryFileThread, type Accepted } from '../../../plugins/bayes/file-thread.ts';
import { stamp } from '../../../plugins/bayes/file-stamp.ts';

/** The file as the gateway accepted it: its version now, no models to keep. */
async function acceptedOf(file: string): Promise<Accepted> {
  return { stamp: await stamp(file), byteModel: false, weights: false };
}

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
    assert.deepEqual([none.dict.size, none.stamp, none.damage], [0, null, undefined]);
    // Lines passed over at start are reported, with the version they were found in.
    fs.appendFileSync(f, 'cut-short\t1');
    const cut = await files.load(f);
    assert.equal(cut.dict.size, here.size);
    assert.deepEqual(cut.damage, { kind: 'malformed', reason: `1 malformed line (the first is line ${here.size + 2})`, stamp: cut.stamp });
    assert.equal(cut.stamp?.size, fs.statSync(f).size);
  });

  it('merges a batch into the file under its lock, adding to what another writer saved at the same time', async () => {
    const f = path.join(dir, 'd.tab');
    await saveDictionary(f, sample(1_000));
    const batch = new Dictionary();
    batch.learn(['w1', 'only-in-batch'], false);
    const others = Array.from({ length: 5 }, () => updateDictionary(f, (d) => d.learn(['from-cli'], true)));
    const [merged] = await Promise.all([files.mergeInto(f, batch, await acceptedOf(f)), ...others]);
    const onDisk = await loadDictionary(f);
    assert.equal(onDisk.spamOf('from-cli'), 5, 'no writer lost');
    assert.equal(onDisk.hamOf('only-in-batch'), 1);
    assert.equal(onDisk.hamOf('w1'), sample(1_000).hamOf('w1') + 1);
    assert.ok('dict' in merged && merged.dict.hamOf('only-in-batch') === 1 && merged.stamp !== null);
    // The batch was copied, not moved: it is still readable here (the gateway scores from it during a flush).
    assert.equal(batch.hamOf('only-in-batch'), 1);
  });

  it('a file that is no dictionary comes back as an error, and the thread goes on serving', async () => {
    const bad = path.join(dir, 'bad.tab');
    fs.writeFileSync(bad, 'token\t1\t2\n');
    await assert.rejects(files.load(bad), new RegExp(`^Error: bayes dictionary ${bad} cannot be read: not a TAB dictionary`));
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

  it('refuses to reload a new version with malformed lines or a missing file, and takes the version it already accepted', async () => {
    const f = path.join(dir, 'd.tab');
    fs.writeFileSync(f, '3\t4\nw1\t1\t2\nbroken line\nw2\t\t5\n');
    const accepted = await acceptedOf(f);
    const same = await files.reload(f, accepted);
    assert.ok('dict' in same && same.dict.size === 1, 'the version accepted at start-up is read as it was');
    fs.appendFileSync(f, 'w3\t1\t1\n');
    const changed = await files.reload(f, accepted);
    assert.ok('refused' in changed);
    assert.deepEqual([changed.refused.kind, changed.refused.reason], ['malformed', '2 malformed lines (the first is line 3)']);
    assert.deepEqual(changed.refused.stamp, await stamp(f), 'named by the version judged');
    fs.rmSync(f);
    const gone = await files.reload(f, accepted);
    assert.ok('refused' in gone && gone.refused.kind === 'missing' && gone.refused.stamp === null);
    const never = await files.reload(f, { stamp: null, byteModel: false, weights: false });
    assert.ok('dict' in never && never.dict.size === 0, 'no file ever read: nothing to keep, an empty dictionary');
  });

  it('a merge leaves a damaged file alone, writes a missing one back from the base, and never creates one from the batch alone', async () => {
    const f = path.join(dir, 'd.tab');
    await saveDictionary(f, sample(500));
    const accepted = await acceptedOf(f);
    const batch = new Dictionary();
    batch.learn(['learned'], true);
    fs.writeFileSync(f, 'not a dictionary\n');
    const damaged = fs.readFileSync(f);
    const refused = await files.mergeInto(f, batch, accepted);
    assert.ok('refused' in refused && refused.refused.kind === 'unreadable' && /not a TAB dictionary/.test(refused.refused.reason));
    assert.ok(fs.readFileSync(f).equals(damaged));

    fs.rmSync(f);
    const noBase = await files.mergeInto(f, batch, accepted);
    assert.ok('refused' in noBase && noBase.refused.kind === 'missing');
    assert.equal(fs.existsSync(f), false, 'no file of the learned counts alone');
    const restored = await files.mergeInto(f, batch, accepted, sample(500));
    assert.ok('dict' in restored);
    const d = await loadDictionary(f);
    assert.deepEqual([d.size, d.spamOf('learned'), d.nspam], [sample(500).size + 1, 1, sample(500).nspam + 1]);
  });
});

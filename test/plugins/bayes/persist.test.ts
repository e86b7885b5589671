// Dictionary files: atomic writes, the lock (stale locks broken), no lost updates between processes, and the
// live dictionary's merge of learned counts with what another writer added meanwhile.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { loadDictionary, saveDictionary, updateDictionary, withLock, writeFileAtomic } from '../../../plugins/bayes/engine/persist.ts';
import { LiveDictionary } from '../../../plugins/bayes/live-dictionary.ts';

const PERSIST = path.resolve(import.meta.dirname, '../../../plugins/bayes/engine/persist.ts');
const NODE = process.execPath;

function childIncrements(file: string, n: number): Promise<number | null> {
  const code = `import { updateDictionary } from ${JSON.stringify(PERSIST)};
for (let i = 0; i < ${n}; i++) await updateDictionary(${JSON.stringify(file)}, (d) => { d.add('tok', 1, 0); d.nspam += 1; });`;
  return new Promise((resolve) => {
    const p = spawn(NODE, ['--input-type=module', '-e', code], { stdio: 'inherit' });
    p.on('close', resolve);
  });
}

describe('bayes dictionary files', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-persist-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replaces a file atomically and leaves no temp file behind', async () => {
    const f = path.join(dir, 'd.tab');
    await writeFileAtomic(f, 'old');
    await writeFileAtomic(f, 'new');
    assert.equal(fs.readFileSync(f, 'utf8'), 'new');
    assert.deepEqual(fs.readdirSync(dir), ['d.tab']);
  });

  it('breaks a lock left by a dead process', async () => {
    const f = path.join(dir, 'd.tab');
    fs.writeFileSync(f + '.lock', '999999999\n');
    const got = await withLock(f, async () => 'ran', { timeoutMs: 2000 });
    assert.equal(got, 'ran');
    assert.equal(fs.existsSync(f + '.lock'), false);
  });

  it('waits for a live lock and gives up after its timeout', async () => {
    const f = path.join(dir, 'd.tab');
    fs.writeFileSync(f + '.lock', `${process.pid}\n`);
    await assert.rejects(withLock(f, async () => 1, { timeoutMs: 200 }), /locked by another writer/);
    fs.rmSync(f + '.lock');
  });

  it('loses no update when three processes add to one dictionary at once', async function () {
    this.timeout(20_000);
    const f = path.join(dir, 'd.tab');
    await saveDictionary(f, new Dictionary());
    const local = (async () => { for (let i = 0; i < 15; i++) await updateDictionary(f, (d) => { d.add('tok', 1, 0); d.nspam += 1; }); })();
    const codes = await Promise.all([childIncrements(f, 15), childIncrements(f, 15), local]);
    assert.deepEqual(codes.slice(0, 2), [0, 0]);
    const d = await loadDictionary(f);
    assert.equal(d.spamOf('tok'), 45);
    assert.equal(d.nspam, 45);
  });

  it('live dictionary: flushing merges learned counts into what another writer saved meanwhile', async () => {
    const f = path.join(dir, 'd.tab');
    const start = new Dictionary();
    start.learn(['a'], true);
    await saveDictionary(f, start);
    const live = new LiveDictionary(f);
    await live.load();
    live.learn(['b'], false);
    assert.equal(live.counts().nham, 1, 'learned counts score at once');
    await updateDictionary(f, (d) => d.learn(['c'], true)); // e.g. `moat bayes merge`
    await live.flush();
    const d = await loadDictionary(f);
    assert.deepEqual([d.nspam, d.nham, d.spamOf('a'), d.hamOf('b'), d.spamOf('c')], [2, 1, 1, 1, 1]);
    const c = live.counts();
    assert.deepEqual([c.nspam, c.nham], [2, 1], 'after the flush the live view is the file, nothing counted twice');
    assert.equal(live.hasPending(), false);
    await live.close();
  });

  it('live dictionary: reloads when the file changed and keeps what it has not flushed yet', async () => {
    const f = path.join(dir, 'd.tab');
    await saveDictionary(f, new Dictionary());
    const live = new LiveDictionary(f);
    await live.load();
    assert.equal(await live.reloadIfChanged(), false);
    live.learn(['x'], true);
    const other = new Dictionary();
    other.learn(['y'], false);
    await saveDictionary(f, other);
    assert.equal(await live.reloadIfChanged(), true);
    const c = live.counts();
    assert.deepEqual([c.nspam, c.nham], [1, 1]);
    await live.close();
  });
});

// Dictionary files: atomic writes, the lock (stale locks broken), no lost updates between processes, and the
// live dictionary's merge of learned counts with what another writer added meanwhile.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { loadDictionary, removeHeldFilesSync, saveDictionary, updateDictionary, withLock, writeFileAtomic } from '../../../plugins/bayes/engine/persist.ts';
import { LiveDictionary } from '../../../plugins/bayes/live-dictionary.ts';
import { ByteGramModel } from '../../../plugins/bayes/engine/byte-grams.ts';

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

  it('keeps the mode, owner and group of the file it replaces (a merge run as root keeps the gateway\'s file its own)', async () => {
    const f = path.join(dir, 'd.tab');
    await writeFileAtomic(f, 'old');
    fs.chmodSync(f, 0o660);
    const asRoot = process.getuid?.() === 0;
    // `nobody`, as a gateway's own user would be.
    if (asRoot) fs.chownSync(f, 65534, 65534);
    await writeFileAtomic(f, 'new');
    const st = fs.statSync(f);
    assert.equal(st.mode & 0o777, 0o660);
    if (asRoot) assert.deepEqual([st.uid, st.gid], [65534, 65534]);
    assert.equal(fs.readFileSync(f, 'utf8'), 'new');
  });

  it('removes the temp files a writer killed mid-write left behind, and no live or recent writer\'s', async () => {
    const f = path.join(dir, 'd.tab');
    const old = new Date(Date.now() - 10 * 60_000);
    const dead = path.join(dir, '.d.tab.999999999.0badf00d.tmp');
    const recent = path.join(dir, '.d.tab.999999998.0badf00d.tmp');
    const live = path.join(dir, `.d.tab.${process.pid}.0badf00d.tmp`);
    const other = path.join(dir, '.e.tab.999999999.0badf00d.tmp');
    for (const p of [dead, recent, live, other]) fs.writeFileSync(p, 'half a dictionary');
    for (const p of [dead, live, other]) fs.utimesSync(p, old, old);
    await writeFileAtomic(f, 'new');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['.d.tab.999999998.0badf00d.tmp', '.e.tab.999999999.0badf00d.tmp', `.d.tab.${process.pid}.0badf00d.tmp`, 'd.tab'].sort());
  });

  it('a merge from the dictionary as it was keeps what another merge changed in the models meanwhile', () => {
    const start = new Dictionary();
    start.add('shared', 2, 1, 0.5);
    start.add('quiet', 1, 1, 0.25);
    start.byteGrams = new ByteGramModel(Float32Array.from({ length: 2 << 8 }, (_x, i) => i % 7), 10, 8);
    // Two merges fitted from `start`: the first moved `shared` by +0.25 and bucket 0 by +1; the second by -0.375,
    // bucket 0 by +2 and bucket 2 by -1.
    const first = new Dictionary();
    first.add('shared', 1, 0, 0.75);
    first.byteGrams = new ByteGramModel(start.byteGrams.state.map((x, i) => (i === 0 ? x + 1 : x)), 13, 8);
    const second = new Dictionary();
    second.add('shared', 0, 1, 0.125);
    second.add('new', 1, 0, -1);
    second.byteGrams = new ByteGramModel(start.byteGrams.state.map((x, i) => (i === 0 ? x + 2 : i === 2 ? x - 1 : x)), 15, 8);
    const file = start.clone();
    file.merge(first, start);
    assert.equal(file.weightOf('shared'), 0.75, 'unchanged since start: the fitted weight itself');
    assert.deepEqual(Array.from(file.byteGrams!.state), Array.from(first.byteGrams.state));
    file.merge(second, start);
    assert.deepEqual([file.spamOf('shared'), file.hamOf('shared'), file.weightOf('shared')], [3, 2, 0.375]);
    assert.deepEqual([file.weightOf('quiet'), file.weightOf('new')], [0.25, -1]);
    const s = file.byteGrams!.state;
    assert.deepEqual([s[0], s[1], s[2], s[3]], [0 + 1 + 2, 1, 2 - 1, 3]);
    assert.equal(file.byteGrams!.messages, 10 + 3 + 5);
  });

  it('breaks a lock left by a dead process', async () => {
    const f = path.join(dir, 'd.tab');
    fs.writeFileSync(f + '.lock', '999999999\n');
    const got = await withLock(f, async () => 'ran', { timeoutMs: 2000 });
    assert.equal(got, 'ran');
    assert.equal(fs.existsSync(f + '.lock'), false);
  });

  it('a signal handler removes a lock whose link was made but not yet heard of (Ctrl-C at that moment)', async () => {
    const file = path.join(dir, 'd.tab');
    const lockPath = `${file}.lock`;
    let release!: () => void;
    const held = withLock(file, () => new Promise<void>((r) => { release = r; }));
    // Between event-loop turns, block until the link has made the lock: its callback cannot have run yet, which is
    // where a signal handler may find the lock made but the writer not knowing it holds it.
    let seen = false;
    for (let turn = 0; turn < 400 && !seen; turn++) {
      await new Promise((r) => setImmediate(r));
      const until = Date.now() + 20;
      while (!seen && Date.now() < until) seen = fs.existsSync(lockPath);
    }
    assert.ok(seen, 'the lock was made');
    const removed = removeHeldFilesSync();
    assert.equal(fs.existsSync(lockPath), false, `the lock is gone (removed: ${removed.join(', ')})`);
    await new Promise((r) => setTimeout(r, 20));
    release?.();
    await held;
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

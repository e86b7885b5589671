// The embedded SQLite store: the contract, plus persistence, sharing one file between connections, and the purge timer.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedStore } from '../../../core/store/embedded-store.ts';
import { openStore, embeddedStoreFile } from '../../../core/store/index.ts';
import { storeContract } from './contract.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-store-'));
  dirs.push(d);
  return d;
}
// Each test's folders go with it, after the contract's own afterEach closed its store: a hook at the file's top level
// would be mocha's root hook, run once at the end of the whole run, and skipped when the run is cut short.
const removeDirs = () => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); };

describe('embedded store files', () => {
  afterEach(removeDirs);
  storeContract('embedded (SQLite)', {
    open: async () => new EmbeddedStore(path.join(tempDir(), 'state.db'), { purgeIntervalMs: 0 }),
    purgeCounts: true,
  });
});

describe('EmbeddedStore', () => {
  afterEach(removeDirs);
  it('openStore puts the file under data_dir/state and it survives a reopen', async () => {
    const dataDir = tempDir();
    const cfg = { backend: 'embedded' as const, redis: { url: '', prefix: '' }, purge_interval: 0 };
    const a = await openStore(cfg, dataDir);
    await a.set('keep', 'me', 60_000);
    await a.incr('n', 3);
    await a.sadd('s', 'm');
    await a.close();
    assert.ok(existsSync(embeddedStoreFile(dataDir)));
    const b = await openStore(cfg, dataDir);
    assert.equal(await b.get('keep'), 'me');
    assert.ok((await b.ttl('keep')) > 50_000);
    assert.equal(await b.incr('n'), 4);
    assert.deepEqual(await b.smembers('s'), ['m']);
    await b.close();
  });

  it('two connections to one file (as two processes would) see each other and count atomically', async () => {
    const file = path.join(tempDir(), 'state.db');
    const a = new EmbeddedStore(file, { purgeIntervalMs: 0 });
    const b = new EmbeddedStore(file, { purgeIntervalMs: 0 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).incr('shared')));
    assert.equal(await a.get('shared'), '100');
    assert.equal(await b.add('once', 'b'), true);
    assert.equal(await a.add('once', 'a'), false);
    await a.close();
    await b.close();
  });

  it('the cleanup timer deletes expired rows from the file by itself', async () => {
    const file = path.join(tempDir(), 'state.db');
    const store = new EmbeddedStore(file, { purgeIntervalMs: 40 });
    await store.set('old', 'x', 10);
    await store.sadd('oldset', 'm', 10);
    await store.set('live', 'y');
    await new Promise((r) => setTimeout(r, 150));
    const db = new DatabaseSync(file, { readOnly: true });
    const keys = (db.prepare('SELECT k FROM kv ORDER BY k').all() as { k: string }[]).map((r) => r.k);
    const members = db.prepare('SELECT count(*) AS n FROM members').get() as { n: number };
    db.close();
    await store.close();
    assert.deepEqual(keys, ['live']);
    assert.equal(members.n, 0);
  });
});

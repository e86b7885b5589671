// queue.key (and quarantine.key, made by the same code) on disk: created whole, private, and the same for every
// caller; a key file cut short, as a power cut soon after the first start could leave it, is refused with the fix
// rather than taken for a key of no bytes.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSealKey, SEAL_KEY_BYTES } from '../../../core/queue/envelope-seal.ts';
import { QueueKey } from '../../../core/queue/queue-key.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { startGateway } from '../../helpers/gateway.ts';

const CUT_SHORT = /queue\.key holds (\d+) bytes, not a 32-byte key: cut short \(a power cut while it was written, a partial copy\?\)\. Restore it from the backup it came from/;

describe('queue.key on disk', function () {
  this.timeout(30_000);
  let dataDir: string;
  beforeEach(() => { dataDir = mkdtempSync(path.join(os.tmpdir(), 'mm-queue-key-')); });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));
  const keyFile = () => path.join(dataDir, 'queue.key');

  it('a first take-over creates a whole key, readable by its owner only, with no temporary file left, and every later read gets the same', async () => {
    const store = new QueueStore(dataDir);
    await store.recover();
    store.close();
    assert.equal(readFileSync(keyFile()).length, SEAL_KEY_BYTES);
    assert.equal(statSync(keyFile()).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dataDir).filter((n) => n.startsWith('queue.key')), ['queue.key']);
    const again = loadSealKey(keyFile());
    assert.deepEqual(again.export(), readFileSync(keyFile()));
    assert.deepEqual(new QueueKey(dataDir).current?.export(), readFileSync(keyFile()));
  });

  it('an empty queue.key is refused by a take-over, a view and a start, and left as it is', async () => {
    writeFileSync(keyFile(), '');
    const store = new QueueStore(dataDir);
    await assert.rejects(store.recover(), (e: Error) => { assert.match(e.message, CUT_SHORT); assert.match(e.message, /holds 0 bytes/); return true; });
    store.close();
    assert.throws(() => new QueueKey(dataDir).current, CUT_SHORT);
    assert.throws(() => loadSealKey(keyFile()), CUT_SHORT);
    await assert.rejects(startGateway({ dataDir }), CUT_SHORT);
    assert.equal(readFileSync(keyFile()).length, 0, 'never replaced: files it sealed may be on their way back');
  });

  it('a key file of any other length is refused too', () => {
    writeFileSync(keyFile(), Buffer.alloc(SEAL_KEY_BYTES + 1, 7));
    assert.throws(() => new QueueKey(dataDir).current, /queue\.key holds 33 bytes, not a 32-byte key/);
    assert.ok(existsSync(keyFile()));
  });
});

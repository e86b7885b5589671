// The digest does not hold the whole quarantine in memory: it reads it through the held index (ids and times), then
// loads each mailbox's messages as its digest is built. Measured on a real quarantine folder of 3,000 held messages
// put there as the gateway does (queued, then moved), against what holding every entry costs, so the bound follows
// the machine's own object sizes rather than a number in bytes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runDigest } from '../../../core/quarantine/digest.ts';
import { digestConfigSchema } from '../../../core/quarantine/digest-config.ts';
import { validate } from '../../../core/config/schema.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { newQueueId } from '../../../core/queue/queue-id.ts';
import { forEachBounded } from '../../../core/queue/for-each-bounded.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** The heap in use once garbage is gone. */
const liveHeap = () => { gc(); gc(); return process.memoryUsage().heapUsed; };

const HELD = 3_000;
const MAILBOXES = 300;

describe('the quarantine digest\'s memory', function () {
  this.timeout(120_000);
  let dir: string;
  let store: QueueStore;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'moat-digest-memory-'));
    store = new QueueStore(dir);
    const now = Date.now();
    await forEachBounded(Array.from({ length: HELD }, (_, i) => i), 32, async (i) => {
      const data = Buffer.from(`From: <prize${i}@lottery.example>\r\nSubject: prize ${i}\r\n\r\nYou won!\r\n`);
      const e: QueueEntry = {
        id: newQueueId(), mailFrom: `bounce-${i}@lottery.example`, recipients: [{ address: `user${i % MAILBOXES}@example.com`, status: 'pending' }],
        prepend: 'X-Mailmoat-Spam: Yes\r\n', remove: [], receivedAt: now - HELD + i, size: data.length,
        client: { ip: '192.0.2.1', helo: 'lottery.example' }, authenticated: false, attempts: 0, nextAttemptAt: now, history: [],
        verdict: { action: 'quarantine', score: 15, symbols: Array.from({ length: 12 }, (_, k) => `SYMBOL_NUMBER_${k}(1.25)`) },
      };
      await store.enqueue(e, data);
      await store.commitTo('quarantine', e);
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds well under half of what every held entry takes while it queues the digests', async () => {
    const base = liveHeap();
    let everything = await store.list('quarantine');
    assert.equal(everything.length, HELD);
    const allEntries = liveHeap() - base;
    everything = [];

    let during: number | undefined;
    const enqueue = store.enqueue.bind(store);
    // Measured at the first digest's queueing: who has what held is known by then, and kept to the run's end.
    store.enqueue = async (e, data) => { during ??= liveHeap() - base; return enqueue(e, data); };
    try {
      const cfg = validate(digestConfigSchema, {}).value;
      const report = await runDigest({ dataDir: dir, store, config: () => cfg, hostname: () => 'mx.test', localDomains: () => ['example.com'] }, { all: true });
      assert.equal(report.digests.length, MAILBOXES);
      assert.equal(report.digests.reduce((n, d) => n + d.messages, 0), HELD);
    } finally { store.enqueue = enqueue; }
    assert.ok(during !== undefined);
    assert.ok(during < allEntries / 2, `the run held ${(during / 1024).toFixed(0)} KB; every entry takes ${(allEntries / 1024).toFixed(0)} KB`);
  });
});

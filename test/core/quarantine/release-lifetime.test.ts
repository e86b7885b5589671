// A message released from the quarantine after longer than the queue's lifetime is still retried when the next hop
// defers it: its lifetime counts from the release, not from its arrival in the quarantine.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { startSmarthost } from '../../helpers/smarthost.ts';
import { moatQueue } from '../queue/moat-queue.ts';
import { until } from '../queue/send.ts';

const body = Buffer.from('From: x@client.example\r\nTo: ann@example.com, bob@example.com\r\nSubject: old false positive\r\n\r\nbody\r\n');

describe('quarantine: release of a message held longer than the queue lifetime', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mm-rlife-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const how of ['whole message', 'one recipient'] as const) {
    it(`${how}: a deferral at the next hop is retried, not bounced as expired`, async () => {
      const store = new QueueStore(dir);
      await store.recover();
      const fiveDaysAgo = Date.now() - 5 * 86_400_000;
      const e: QueueEntry = {
        id: 'q0000000000000000002', mailFrom: 'x@client.example', recipients: [{ address: 'ann@example.com', status: 'pending' }, { address: 'bob@example.com', status: 'pending' }],
        prepend: '', remove: [], receivedAt: fiveDaysAgo, size: body.length,
        client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: fiveDaysAgo, history: [],
      };
      writeFileSync(store.emlPath(e.id), body);
      await store.commitTo('quarantine', e);
      store.close();
      const sink = await startSmarthost();
      sink.rcptReplies.set('ann@example.com', 451);
      const g = await startGateway({ dataDir: dir, config: { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { lifetime: '4d', retry_schedule: ['1h'], quarantine_lifetime: null } } });
      try {
        const args = how === 'whole message' ? ['release', e.id] : ['release', e.id, '--recipient', 'ann@example.com'];
        assert.equal((await moatQueue(dir, ...args)).code, 0);
        await until(() => g.logs.some((l) => l.msg === 'deferred' || /dead-letter/.test(String(l.msg))), 10_000, 'the first attempt');
        assert.ok(g.logs.some((l) => l.msg === 'deferred'), 'deferred for a retry');
        assert.ok(!g.logs.some((l) => /dead-letter|notice queued/.test(String(l.msg))), 'neither dead-lettered nor bounced');
      } finally { await g.stop(); await sink.stop(); }
    });
  }
});

// The reload's count of mail waiting for a domain taken out of `domains`: the messages the relay workers schedule are
// counted from memory, held ones and the quarantine from their state files, of which a reload reads a bounded number.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateConfig } from '../../../core/config/load.ts';
import type { GatewayConfig } from '../../../core/config/gateway-schema.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { removedDomainMail, removedDomainWarning } from '../../../core/queue/removed-domain-mail.ts';
import { addSpooled, writeQueue } from './restore-files.ts';

const to = (...addresses: string[]): Partial<QueueEntry> => ({ recipients: addresses.map((address) => ({ address, status: 'pending' as const })) });

describe('queue: mail waiting for a domain a reload takes out', () => {
  let dataDir: string;
  let before: GatewayConfig, after: GatewayConfig;
  let scheduled: QueueEntry[];
  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mm-removed-domain-'));
    const base = { server: { hostname: 'mx.test.example', listen: ['127.0.0.1:0'] }, data_dir: dataDir };
    before = await validateConfig({ ...base, domains: ['example.com', 'old.example'] });
    after = await validateConfig({ ...base, domains: ['example.com'] });
    scheduled = await writeQueue(dataDir, async (store) => {
      // Deferred: a state file on disk, and its entry in the relay workers' memory, where its recipient is delivered now.
      const deferred = await addSpooled(store, 'deferred', 100, { ...to('ann@old.example'), attempts: 1, nextAttemptAt: Date.now() + 3_600_000 });
      const waiting = await addSpooled(store, 'waiting', 100, { ...to('bea@old.example', 'cid@example.com'), attempts: 1 });
      await addSpooled(store, 'held', 100, { ...to('dan@OLD.example'), held: true });
      await addSpooled(store, 'held elsewhere', 100, { ...to('eve@example.com'), held: true });
      for (const address of ['fay@old.example', 'gus@old.example', 'hal@example.com']) {
        const e = await addSpooled(store, 'quarantined', 100, to(address));
        await store.commitTo('quarantine', e);
      }
      return [{ ...deferred, recipients: [{ address: 'ann@old.example', status: 'delivered' as const }] }, waiting];
    });
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const count = async (readAtMost?: number) => {
    const store = new QueueStore(dataDir);
    try { return await removedDomainMail(before, after, store, scheduled, readAtMost); } finally { store.close(); }
  };

  it('counts scheduled messages as the relay workers hold them, and held and quarantined ones from their files', async () => {
    // The deferred one is delivered in memory: its state file, still pending, is not read for it.
    assert.deepEqual(await count(), [{ domain: 'old.example', queued: 2, quarantined: 2, route: 'the default route (files under data_dir/delivered)' }]);
  });

  it('reads no more state files than it may, and then says the counts are at least these', async () => {
    // Five state files: the two held messages' are read first, then one of the three quarantined.
    const [m] = await count(3);
    assert.equal(m.at_least, true);
    assert.equal(m.queued, 2);
    assert.ok(m.quarantined <= 1, JSON.stringify(m));
    assert.match(removedDomainWarning(m), /was taken out while at least \d message\(s\) in the queue and at least \d in the quarantine wait for it/);
  });

  it('reads nothing when no domain was taken out', async () => {
    const store = new QueueStore(dataDir);
    try { assert.deepEqual(await removedDomainMail(before, before, store, scheduled), []); } finally { store.close(); }
  });
});

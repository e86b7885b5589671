// Kill and restart with real parts: a gateway child process, SIGKILLed at random moments (mail arriving, the relay
// delivering, a deferral moving a message out of the journal), restarted on its data_dir, then drained. Every 250
// must reach the smarthost for each recipient not refused for good. CRASH_LOOP_SEED=N replays a run;
// `node scripts/bench/crash-loop.ts --rounds=20` runs the long version.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { RELAY_CONCURRENCY, crashLoopSeed, problems, runCrashLoop, summary } from '../../../scripts/bench/crash-loop.ts';

const ROUNDS = 4;

describe('queue: kill-and-restart loop', function () {
  this.timeout(60_000);

  it(`${ROUNDS} SIGKILLs at random moments lose no acknowledged message`, async () => {
    const seed = crashLoopSeed();
    console.log(`      crash loop seed ${seed} (CRASH_LOOP_SEED=${seed} replays it)`);
    const r = await runCrashLoop({ rounds: ROUNDS, seed, clients: 6, drainMs: 15_000 });
    console.log(summary(r).split('\n').map((l) => `      ${l}`).join('\n'));
    assert.deepEqual(r.failures, [], 'every restart works and the gateway logs no error');
    assert.ok(r.acked >= 20 && r.ackedLarge >= 2, `a real load was acknowledged (${r.acked}, ${r.ackedLarge} large)`);
    assert.deepEqual(r.lost, [], 'every acknowledged message reached each recipient not refused for good');
    assert.deepEqual(r.corrupt, [], 'no delivered message is torn, mixed or misaddressed');
    assert.deepEqual(r.leftInQueue, [], 'the drained queue is empty');
    assert.deepEqual(r.deadLetterWrong, [], 'dead-letter holds exactly the refused messages');
    assert.deepEqual(r.missingDsn, [], 'each refused message got its failure notice');
    // Duplicates only come from deliveries a kill cut short: at most the relay workers' in-flight messages per kill.
    assert.ok(r.duplicates <= ROUNDS * RELAY_CONCURRENCY * 4, `${r.duplicates} duplicates for ${ROUNDS} kills`);
  });

  it('without a kill the same load (deferrals, refusals, large messages) has no duplicate', async () => {
    const r = await runCrashLoop({ rounds: 0, seed: crashLoopSeed(), clients: 6, drainMs: 15_000 });
    assert.ok(r.acked >= 10, `a load was acknowledged (${r.acked})`);
    assert.equal(problems(r), 0, summary(r));
    assert.equal(r.duplicates, 0, 'each recipient got each message once');
    assert.equal(r.deliveredWithout250, 0, 'nothing was delivered that its client did not see acknowledged');
  });
});

// The states the loop above found after a kill in the middle of a move, made here on purpose with real files: a temp
// path taken by a directory makes the write at that step fail, as if the process had died there.
describe('queue: recovery after a kill in the middle of a move', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mm-crash-move-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const body = Buffer.from('Subject: kept\r\n\r\nthe body\r\n');
  function entry(id: string): QueueEntry {
    return {
      id, mailFrom: 'a@client.example', recipients: [{ address: 'r@example.com', status: 'failed', reply: '550 no', notified: true }],
      prepend: '', remove: [], receivedAt: Date.now(), size: body.length, client: { ip: '127.0.0.1' }, authenticated: false,
      attempts: 1, nextAttemptAt: Date.now(), history: [],
    };
  }
  async function started(): Promise<QueueStore> {
    const store = new QueueStore(dir);
    await store.recover();
    return store;
  }

  it('a sealed message cut short on its way to dead-letter is still queued at the next start', async () => {
    const store = await started();
    const e = entry('sealed1');
    writeFileSync(store.emlPath(e.id), body);
    await store.commit(e);
    mkdirSync(`${store.jsonPath(e.id, 'deadletter')}.tmp`); // dies after the seal is cut, before the dead-letter state
    await assert.rejects(store.commitTo('deadletter', e));
    store.close();
    rmSync(`${store.jsonPath(e.id, 'deadletter')}.tmp`, { recursive: true });

    const next = new QueueStore(dir);
    const r = await next.recover();
    assert.deepEqual(r.entries.map((x) => x.id), ['sealed1'], 'not deleted as a file never acknowledged');
    assert.equal(r.orphans, 0);
    await next.commitTo('deadletter', r.entries[0]);
    assert.deepEqual(readFileSync(next.emlPath(e.id, 'deadletter')), body);
    next.close();
  });

  it('a state file left in the queue by a finished move to dead-letter is removed, not kept as broken', async () => {
    const store = await started();
    const e = entry('done1');
    writeFileSync(store.emlPath(e.id), body);
    await store.commit(e);
    await store.commitTo('deadletter', e);
    writeFileSync(store.jsonPath(e.id), JSON.stringify(e)); // killed before the queue's .json was unlinked
    store.close();

    const next = new QueueStore(dir);
    const r = await next.recover();
    assert.deepEqual(r.broken, []);
    assert.deepEqual(r.entries, []);
    assert.deepEqual(readdirSync(path.join(dir, 'queue')), []);
    assert.deepEqual(readdirSync(path.join(dir, 'deadletter')).sort(), ['done1.eml', 'done1.json']);
    next.close();
  });

  it('a move out of the journal writes its state whole or not at all', async () => {
    const store = await started();
    const e = entry('journaled1');
    e.recipients[0].status = 'pending';
    await store.commitJournaled(e, body);
    mkdirSync(`${store.jsonPath(e.id)}.tmp`); // the state cannot be written: nothing half-done may stay behind
    await assert.rejects(store.update(e));
    assert.ok(store.isJournaled(e.id), 'the journal still holds the message');
    assert.deepEqual(readdirSync(path.join(dir, 'queue')), ['journaled1.json.tmp']);
    store.close();
  });

  it('a torn state file beside a journal record does not replace the record, over two restarts', async () => {
    const store = await started();
    const e = entry('journaled2');
    e.recipients[0].status = 'pending';
    await store.commitJournaled(e, body);
    writeFileSync(store.emlPath(e.id), body); // what an older version left when killed while writing the .json
    writeFileSync(store.jsonPath(e.id), '');
    store.close();

    for (let start = 1; start <= 2; start++) {
      const next = new QueueStore(dir);
      const r = await next.recover();
      assert.deepEqual(r.entries.map((x) => x.id), ['journaled2'], `start ${start}: the message is queued`);
      assert.deepEqual(r.broken, [], `start ${start}: nothing kept aside as broken`);
      next.close(); // killed again before any delivery
    }
  });
});

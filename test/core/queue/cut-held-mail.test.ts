// A message file cut short (a copy of data_dir caught it mid-write) in the quarantine or dead-letter: a release or a
// requeue would put it back in the queue to go out cut, or padded with zeros. It is refused and set aside instead, as
// a cut message of the queue is at its attempt; and whatever is set aside after the start counts in queue_broken at
// once, not from the next start.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { QueueStore } from '../../../core/queue/queue-store.ts';
import { addSpooled, writeQueue } from './restore-files.ts';
import { queueBed } from './bed.ts';
import { moatQueue } from './moat-queue.ts';

const SET_ASIDE = 'queued message set aside in data_dir/corrupt: not delivered until mended';
const CUT_TO = 20_000;

/** A spooled message moved into `folder` by the queue's own code, as a verdict or a failed delivery moves it. */
async function moved(store: QueueStore, folder: 'quarantine' | 'deadletter', subject: string, state: Partial<QueueEntry>): Promise<QueueEntry> {
  const e = await addSpooled(store, subject, 60_000, state);
  await store.commitTo(folder, e);
  return e;
}

const quarantined = (store: QueueStore, subject: string, to = ['bob@example.com', 'carol@example.com']) =>
  moved(store, 'quarantine', subject, { recipients: to.map((address) => ({ address, status: 'pending' as const })), verdict: { action: 'quarantine', score: 12, symbols: ['X'], reason: 'spam' } });

const deadLettered = (store: QueueStore, subject: string) =>
  moved(store, 'deadletter', subject, { attempts: 3, recipients: [{ address: 'bob@example.com', status: 'failed', reply: '550 5.1.1 no such user', notified: true }] });

describe('queue: cut message files in the quarantine and dead-letter', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-cut-held-');
  const start = async (): Promise<TestGateway> => {
    bed.gw = await startGateway({ dataDir: bed.dataDir, config: { smarthost: `smtp://127.0.0.1:${bed.sink.port}` } });
    return bed.gw;
  };
  const broken = async () => ((await controlRequest(socketPath(bed.dataDir), { op: 'metrics' })) as Record<string, number>).queue_broken;
  const cut = (folder: string, id: string) => truncateSync(path.join(bed.dataDir, folder, `${id}.eml`), CUT_TO);
  const aside = (folder: string) => readdirSync(path.join(bed.dataDir, 'corrupt', folder)).sort();

  it('a quarantined message cut short: show says damaged, a release is refused and sets it aside, counted at once; a whole one goes', async () => {
    const [held, whole] = await writeQueue(bed.dataDir, async (store) => [await quarantined(store, 'cut one'), await quarantined(store, 'whole one')]);
    cut('quarantine', held.id);
    const shown = await moatQueue(bed.dataDir, 'show', held.id);
    assert.match(shown.stdout, new RegExp(`^damaged: +its message file is ${CUT_TO} bytes, its state says ${held.size}: cut short`, 'm'));

    const g = await start();
    assert.equal(await broken(), 0, 'a start reads no state file of the quarantine');
    const released = await moatQueue(bed.dataDir, 'release', held.id);
    assert.equal(released.code, 1, released.stdout);
    assert.match(released.stderr, new RegExp(`message ${held.id} not released: its message file is ${CUT_TO} bytes, its state says ${held.size}: cut short .*; it is set aside as .*corrupt/quarantine/${held.id}\\.eml with its state file until mended`));
    assert.deepEqual(aside('quarantine'), [`${held.id}.eml`, `${held.id}.json`]);
    assert.equal(existsSync(path.join(bed.dataDir, 'quarantine', `${held.id}.json`)), false);
    assert.equal(existsSync(path.join(bed.dataDir, 'queue', `${held.id}.eml`)), false, 'never moved into the queue');
    const line = g.logs.find((l) => l.msg === SET_ASIDE);
    assert.equal(line?.level, 'error');
    assert.deepEqual([line?.qid, line?.folder], [held.id, 'quarantine']);
    assert.equal(await broken(), 1);

    // Released again: it is no longer in the quarantine.
    const again = await moatQueue(bed.dataDir, 'release', held.id);
    assert.equal(again.code, 1);
    assert.match(again.stdout, /not found/);
    assert.equal((await moatQueue(bed.dataDir, 'release', whole.id)).code, 0);
    const [sent] = await bed.sink.waitFor(1);
    assert.match(sent.raw.toString('latin1'), /Subject: whole one\r\n/);
    await waitFor('the delivery queue idle', () => (g.gateway.runtime.delivery.size === 0 ? true : undefined));
    assert.equal(bed.sink.messages.length, 1);
  });

  it('a release for one recipient of a cut quarantined message queues no copy', async () => {
    const held = await writeQueue(bed.dataDir, (store) => quarantined(store, 'cut one'));
    cut('quarantine', held.id);
    await start();
    const released = await moatQueue(bed.dataDir, 'release', held.id, '--recipient', 'carol@example.com');
    assert.equal(released.code, 1, released.stdout);
    assert.match(released.stderr, new RegExp(`message ${held.id} not released: its message file is ${CUT_TO} bytes`));
    assert.deepEqual(readdirSync(path.join(bed.dataDir, 'queue')).filter((n) => n.startsWith(held.id)), []);
    assert.deepEqual(aside('quarantine'), [`${held.id}.eml`, `${held.id}.json`]);
    assert.equal(await broken(), 1);
    assert.equal(bed.sink.messages.length, 0);
  });

  it('a requeue of a cut dead-lettered message on the files (no gateway) is refused and sets it aside; the next start reports it', async () => {
    const dead = await writeQueue(bed.dataDir, (store) => deadLettered(store, 'cut dead'));
    cut('deadletter', dead.id);
    const requeued = await moatQueue(bed.dataDir, 'requeue', dead.id);
    assert.equal(requeued.code, 1, requeued.stdout);
    assert.match(requeued.stderr, new RegExp(`message ${dead.id} not requeued: its message file is ${CUT_TO} bytes, its state says ${dead.size}: cut short`));
    assert.deepEqual(aside('deadletter'), [`${dead.id}.eml`, `${dead.id}.json`]);
    assert.deepEqual(readdirSync(path.join(bed.dataDir, 'queue')).filter((n) => n.startsWith(dead.id)), []);

    const g = await start();
    assert.equal(g.logs.find((l) => l.msg === 'queue recovered')?.broken, 1);
    const line = g.logs.find((l) => l.msg === SET_ASIDE);
    assert.equal(line?.qid, dead.id);
    assert.match(String(line?.reason), new RegExp(`its message file is ${CUT_TO} bytes, its state says ${dead.size}: cut short`));
    assert.equal(await broken(), 1);
    assert.equal(bed.sink.messages.length, 0);
  });

  it('a queued message cut short at its attempt counts in queue_broken at once', async () => {
    const e = await writeQueue(bed.dataDir, (store) => addSpooled(store, 'large', 60_000, { attempts: 1, nextAttemptAt: Date.now() + 3_600_000, lastReply: '451 try later' }));
    const g = await start();
    assert.equal(await broken(), 0);
    cut('queue', e.id);
    assert.equal((await moatQueue(bed.dataDir, 'flush', e.id)).code, 0);
    await waitFor('the set-aside line', () => g.logs.find((l) => l.msg === SET_ASIDE));
    assert.equal(await broken(), 1, 'counted without a restart');
    assert.deepEqual(aside('queue'), [`${e.id}.eml`, `${e.id}.json`]);
    assert.equal(bed.sink.messages.length, 0);
  });
});

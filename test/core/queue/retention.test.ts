// The quarantine and the dead-letter folder keep a message for their lifetime, then the gateway deletes it and says
// so under its queue id; a lifetime of null keeps it. A real gateway, a real smarthost refusing one recipient for good.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway } from '../../helpers/gateway.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { queueBed } from './bed.ts';
import { sendMail, sleep, until } from './send.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/plugins/test-behaviour.ts');

describe('quarantine and dead-letter lifetimes', function () {
  this.timeout(30_000);
  const bed = queueBed('mm-retention-');

  const start = (queue: Record<string, unknown>) => startGateway({ dataDir: bed.dataDir, config: {
    smarthost: `smtp://127.0.0.1:${bed.sink.port}`, plugins: [{ name: 'test-behaviour', module: FIXTURE }],
    queue: { retry_schedule: ['1h'], bounces: { send: 'off' }, ...queue },
  } }).then((g) => { bed.gw = g; return g; });
  const ids = async (folder: 'quarantine' | 'deadletter') => (await new QueueStore(bed.dataDir).list(folder)).map((e) => e.id);

  it('deletes a quarantined and a dead-lettered message once their lifetime is over, each logged under its qid', async () => {
    const g = await start({ quarantine_lifetime: '3s', deadletter_lifetime: '3s' });
    bed.sink.rcptReplies.set('gone@example.com', 550);
    const held = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'], subject: 'please-quarantine' });
    assert.deepEqual(await ids('quarantine'), [held.queueId]);
    const refused = await sendMail(g.port, { from: 'x@client.example', to: ['gone@example.com'], subject: 'refused for good' });
    // Both expiries logged, not merely both folders empty: on a loaded machine the refused message may not have reached
    // dead-letter yet when the quarantine's expiry empties that folder.
    const bothExpired = () => g.logs.filter((r) => /^expired from /.test(String(r.msg))).length === 2;
    await until(async () => bothExpired() && (await ids('quarantine')).length === 0 && (await ids('deadletter')).length === 0, 20_000, 'both expired and both folders emptied');
    const expired = g.logs.filter((r) => /^expired from /.test(String(r.msg)));
    assert.deepEqual(expired.map((r) => [r.msg, r.qid]).sort(), [['expired from dead-letter', refused.queueId], ['expired from the quarantine', held.queueId]].sort());
    // Not before its time: each went once it had been in its folder for the lifetime, however the sweeps fell.
    for (const r of expired) assert.ok(Date.parse(String(r.time)) - Date.parse(String(r.entered)) >= 3000, JSON.stringify(r));
    assert.equal(bed.sink.messages.length, 0, 'an expired message is deleted, not delivered');
  });

  it('keeps them for ever when the lifetime is null, and does not touch the queue', async () => {
    const g = await start({ quarantine_lifetime: null, deadletter_lifetime: '1s', retry_schedule: ['1h'] });
    bed.sink.rcptReplies.set('later@example.com', 451);
    const held = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'], subject: 'please-quarantine' });
    const deferred = await sendMail(g.port, { from: 'x@client.example', to: ['later@example.com'], subject: 'deferred' });
    // Several sweeps of dead-letter (every second) go by.
    await sleep(3500);
    assert.deepEqual(await ids('quarantine'), [held.queueId]);
    assert.ok((await new QueueStore(bed.dataDir).list('queue')).some((e) => e.id === deferred.queueId), 'a deferred message is the queue\'s, not expired');
    assert.equal(g.logs.filter((r) => /^expired from /.test(String(r.msg))).length, 0);
  });
});

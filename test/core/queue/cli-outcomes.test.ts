// `moat queue` tells the admin what really happened, and its exit code agrees: a flush or requeue that cannot apply
// names the verb that does, an action that waited for a delivery in progress says the message was delivered meanwhile,
// and `list` keeps `active` for a message in delivery (as Postfix's mailq does).
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { startGateway } from '../../helpers/gateway.ts';
import { queueBed } from './bed.ts';
import { moatQueue as moat } from './moat-queue.ts';
import { sendMail, until } from './send.ts';

/** A real smarthost that takes every message but answers its final dot only after `delayMs`: a delivery stays in flight that long. */
async function slowSmarthost(delayMs: number): Promise<{ port: number; received: string[]; stop(): Promise<void> }> {
  const received: string[] = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, disableReverseLookup: true,
    onData(stream, session, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => setTimeout(() => { received.push(...session.envelope.rcptTo.map((r) => r.address)); cb(); }, delayMs));
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, received, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('moat queue: outcomes and exit codes', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-qout-');

  const start = (smarthostPort = bed.sink.port) => startGateway({ dataDir: bed.dataDir, config: {
    domains: ['example.com'], smarthost: `smtp://127.0.0.1:${smarthostPort}`, queue: { retry_schedule: ['1h'] },
  } }).then((g) => { bed.gw = g; return g; });

  it('flush of a held message exits 1 and points to release, through the gateway and on the files', async () => {
    bed.sink.rcptReplies.set('a@example.com', 451);
    let g = await start();
    const held = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    const waiting = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    await until(() => g.logs.filter((l) => l.msg === 'deferred').length >= 2, 5000, 'both deferred');
    assert.equal((await moat(bed.dataDir, 'hold', held.queueId!)).code, 0);

    const live = await moat(bed.dataDir, 'flush', held.queueId!);
    assert.equal(live.code, 1, live.stdout + live.stderr);
    assert.match(live.stderr, new RegExp(`^${held.queueId}: held: moat queue release ${held.queueId} delivers it\\n$`));
    const liveJson = await moat(bed.dataDir, 'flush', held.queueId!, '--json');
    assert.deepEqual([liveJson.code, liveJson.json], [1, { flushed: 0, via: 'gateway', state: 'held' }]);

    await g.stop(); bed.gw = undefined;
    const files = await moat(bed.dataDir, 'flush', held.queueId!);
    assert.equal(files.code, 1, files.stdout + files.stderr);
    assert.match(files.stderr, /held: moat queue release \S+ delivers it/);

    // A deferred one is made due (exit 0); flushed again, it is already due: nothing failed, so exit 0 too.
    assert.equal((await moat(bed.dataDir, 'flush', waiting.queueId!)).code, 0);
    const again = await moat(bed.dataDir, 'flush', waiting.queueId!, '--json');
    assert.deepEqual([again.code, again.json], [0, { flushed: 0, via: 'files', state: 'due' }], again.stderr);

    // The held message is still held and was not made due.
    bed.sink.rcptReplies.clear();
    g = await start();
    await bed.sink.waitFor(1);
    const rows = (await moat(bed.dataDir, 'list', '--json')).json;
    assert.deepEqual(rows.map((r: any) => [r.id, r.state]), [[held.queueId, 'held']]);
  });

  it('requeue of a message still in the queue exits 1 and points to flush', async () => {
    bed.sink.rcptReplies.set('a@example.com', 451);
    const g = await start();
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === s.queueId), 5000, 'deferred');
    const r = await moat(bed.dataDir, 'requeue', s.queueId!);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /not dead-lettered: it is still in the queue \(flush retries it now\)/);
  });

  it('delete and hold of a message in delivery wait for it and say it was delivered meanwhile', async () => {
    // As slow as in the walk-through that found it: the delete, started while the delivery runs, must reach the
    // gateway before the smarthost answers, even on a loaded machine.
    const slow = await slowSmarthost(6000);
    try {
      const g = await start(slow.port);
      const first = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
      // In delivery: `active`, as Postfix's mailq marks a message a delivery agent has.
      const active = new RegExp(`^${first.queueId} +\\S+ +active `, 'm');
      await until(async () => active.test((await moat(bed.dataDir, 'list')).stdout), 5000, 'in flight');
      const del = await moat(bed.dataDir, 'delete', first.queueId!);
      assert.deepEqual(slow.received, ['a@example.com'], 'delivered while the delete waited');
      assert.equal(del.code, 1, 'the message was not deleted');
      assert.equal(del.stdout, `${first.queueId}: being delivered when the delete came: delivered while the delete waited, nothing left to delete\n`);
      assert.ok(g.logs.some((l) => l.msg === 'control request' && l.op === 'delete' && l.qid === first.queueId && l.result === 'delivered'));

      const second = await sendMail(g.port, { from: 'x@client.example', to: ['b@example.com'] });
      await until(async () => (await moat(bed.dataDir, 'list', '--json')).json[0]?.state === 'active', 5000, 'in flight');
      const hold = await moat(bed.dataDir, 'hold', second.queueId!, '--json');
      assert.deepEqual([hold.code, hold.json], [1, { results: { [second.queueId!]: 'delivered' }, via: 'gateway' }]);
      assert.deepEqual(slow.received, ['a@example.com', 'b@example.com']);
    } finally {
      await bed.gw?.stop(); bed.gw = undefined;
      await slow.stop();
    }
  });

  it('a message made due with no gateway running is listed `due`, not `active`', async () => {
    bed.sink.rcptReplies.set('a@example.com', 451);
    const g = await start();
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === s.queueId), 5000, 'deferred');
    await g.stop(); bed.gw = undefined;
    assert.equal((await moat(bed.dataDir, 'flush')).code, 0);
    const [row] = (await moat(bed.dataDir, 'list', '--json')).json;
    assert.deepEqual([row.id, row.state], [s.queueId, 'due']);
    assert.match((await moat(bed.dataDir, 'list')).stdout, new RegExp(`^${s.queueId} +\\S+ +due `, 'm'));
  });
});

// Only an unreachable destination is held as down and flushed when it answers again (Postfix's dead destination): a
// recipient's own 4xx, or a connection the next hop drops after a message's data, says the destination is up, and such
// a message keeps its own retry schedule.
import assert from 'node:assert/strict';
import { rawHopBed } from './bed.ts';
import { moatQueue } from './moat-queue.ts';
import { sendMail, sleep, until } from './send.ts';

const RETRY_MS = 3000;

describe('queue: which deferrals a destination coming back flushes', function () {
  this.timeout(60_000);
  const bed = rawHopBed();
  const start = () => bed.start({ retry_schedule: [`${RETRY_MS}ms`], lifetime: '1h' });
  /** When the next hop saw a RCPT for `address`: each transaction that named it. */
  const triesOf = (address: string) => bed.next!.transactions.filter((t) => t.rcpts.some((r) => r.address === address)).map((t) => t.at);

  it('a 451 recipient waits out its retry delay although the destination came back meanwhile; a connect failure is flushed', async () => {
    const g = await start();
    bed.next!.rcptReplies.set('temp@example.com', '451 4.2.0 mailbox busy');
    const busy = await sendMail(g.port, { from: 'a@client.example', to: ['ok@example.com', 'temp@example.com'] });
    assert.equal(busy.code, 250);
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === busy.queueId), 5000, 'the 451 deferral');

    await bed.next!.pause();
    const refused = await sendMail(g.port, { from: 'a@client.example', to: ['waits@example.com'] });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === refused.queueId), 5000, 'the connect failure');
    assert.ok(g.logs.some((l) => String(l.msg).startsWith('destination unreachable')));
    await bed.next!.resume();
    // New mail waits behind the down destination's probe; a flush of it by id tries it, and shows the destination back.
    const fresh = await sendMail(g.port, { from: 'a@client.example', to: ['fresh@example.com'] });
    assert.equal(fresh.code, 250);
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === fresh.queueId), 5000, 'the new message held back');
    const t0 = Date.now();
    assert.equal((await moatQueue(g.dataDir, 'flush', fresh.queueId!)).code, 0);
    // the one that could not connect goes as soon as a delivery shows the destination is back
    await until(() => triesOf('waits@example.com').length === 1, 5000, 'the flushed message');
    assert.ok(triesOf('waits@example.com')[0] - t0 < 1500, 'flushed at once, not on its schedule');
    assert.ok(g.logs.some((l) => String(l.msg).startsWith('destination reachable again')));

    await until(() => triesOf('temp@example.com').length >= 2, 10_000, 'the 451 recipient tried again');
    const [first, second] = triesOf('temp@example.com');
    console.log(`      451 recipient: second attempt ${second - first} ms after the first (retry_schedule ${RETRY_MS} ms)`);
    assert.ok(second - first >= RETRY_MS - 50, `second attempt after ${second - first} ms, the schedule says ${RETRY_MS}`);
  });

  it('a message the next hop drops after its data is retried on its schedule, and the destination is not taken for down', async () => {
    const g = await start();
    bed.next!.dropAfterData = (wire) => wire.includes('POISON-CONTENT');
    const poison = await sendMail(g.port, { from: 'a@client.example', to: ['p@example.com'], body: 'POISON-CONTENT\r\n' });
    assert.equal(poison.code, 250);
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === poison.queueId), 5000, 'the dropped delivery');
    // other mail keeps flowing meanwhile
    for (let i = 0; i < 8; i++) {
      assert.equal((await sendMail(g.port, { from: 'a@client.example', to: [`n${i}@example.com`] })).code, 250);
      await sleep(400);
    }
    await until(() => triesOf('p@example.com').length >= 2, 10_000, 'the dropped message tried again');
    const tries = triesOf('p@example.com');
    console.log(`      dropped message: attempts at ${tries.map((t) => t - tries[0]).join(', ')} ms (retry_schedule ${RETRY_MS} ms)`);
    assert.ok(tries[1] - tries[0] >= RETRY_MS - 50, `second attempt after ${tries[1] - tries[0]} ms`);
    await until(() => bed.next!.accepted().length >= 8, 5000, 'the other messages');
    assert.ok(!g.logs.some((l) => String(l.msg).startsWith('destination unreachable')), 'no destination unreachable line');
    assert.ok(!g.logs.some((l) => String(l.msg).startsWith('destination reachable again')), 'nothing to flush');
    const deferred = g.logs.filter((l) => l.msg === 'deferred' && l.qid === poison.queueId);
    for (const l of deferred) assert.match(String(l.reply), /while sending end of data/);
    const entry = await g.gateway.runtime.queue.load(poison.queueId!);
    assert.match(entry!.recipients[0].reply ?? '', /while sending end of data/);
  });
});

// Each delivery attempt's log lines name every recipient it tried with that recipient's own reply and next hop, as
// Postfix logs a line per recipient (status=sent, bounced, deferred): a recipient delivered beside one deferred or
// refused has a `delivered` line of its own, with the reply that names the next hop's queue id.
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { rawHopBed } from './bed.ts';
import { sendMail, until } from './send.ts';

describe('queue: the log lines of a delivery attempt', function () {
  this.timeout(60_000);
  const bed = rawHopBed();
  const start = async (queue: Record<string, unknown> = { retry_schedule: ['1h'] }) => {
    const g = await bed.start(queue);
    bed.next!.queuedAs = 'SINK';
    return g;
  };
  const linesOf = (g: TestGateway, qid: string) => g.logs.filter((l) => l.qid === qid && l.component === 'delivery');
  const named = (g: TestGateway, qid: string, msg: string) => linesOf(g, qid).filter((l) => l.msg === msg);
  const hop = () => `127.0.0.1[127.0.0.1]:${bed.next!.port}`;
  /** The fields a helpdesk reads of an outcome line. */
  const outcome = (l: LogFields) => ({ to: l.to, reply: l.reply, relay: l.relay });

  it('250, 550 and 451 in one attempt: a delivered, a bounced and a deferred line, each with its own reply', async () => {
    const g = await start();
    bed.next!.rcptReplies.set('perm1@example.com', '550 5.1.1 no such user');
    bed.next!.rcptReplies.set('temp1@example.com', '451 4.2.0 mailbox busy');
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['ok1@example.com', 'perm1@example.com', 'temp1@example.com'] });
    assert.equal(s.code, 250);
    await until(() => named(g, s.queueId!, 'deferred').length > 0, 10_000, 'the deferral');
    assert.deepEqual(named(g, s.queueId!, 'delivered').map(outcome), [{ to: ['ok1@example.com'], reply: '250 2.0.0 queued as SINK0001', relay: hop() }]);
    assert.deepEqual(named(g, s.queueId!, 'bounced').map(outcome), [{ to: ['perm1@example.com'], reply: '550 5.1.1 no such user', relay: hop() }]);
    const deferred = named(g, s.queueId!, 'deferred');
    assert.deepEqual(deferred.map(outcome), [{ to: ['temp1@example.com'], reply: '451 4.2.0 mailbox busy', relay: hop() }]);
    assert.ok(Date.parse(deferred[0].next_attempt as string) > Date.now(), 'the deferred line says when it is tried next');
    assert.equal(deferred[0].attempt, 1);
    const entry = await g.gateway.runtime.queue.load(s.queueId!);
    assert.equal(entry!.lastReply, '451 4.2.0 mailbox busy', 'the last reply is the one the message waits on');
  });

  it('250 then 450: the first copy\'s queue id stays in the log after the other recipient is delivered later', async () => {
    const g = await start({ retry_schedule: ['1s'] });
    bed.next!.rcptReplies.set('full@example.com', '450 4.2.2 mailbox full');
    const s = await sendMail(g.port, { from: 'bob@partner.example', to: ['alice@example.com', 'full@example.com'] });
    assert.equal(s.code, 250);
    await until(() => named(g, s.queueId!, 'deferred').length > 0, 10_000, 'the deferral');
    bed.next!.rcptReplies.clear();
    await until(() => named(g, s.queueId!, 'delivered').length === 2, 10_000, 'the second delivery');
    // What `select(.msg == "delivered")` gives a helpdesk: each copy, its recipient, attempt and the next hop's id.
    assert.deepEqual(named(g, s.queueId!, 'delivered').map((l) => [l.to, l.attempt, l.reply, l.rcpts]), [
      [['alice@example.com'], 1, '250 2.0.0 queued as SINK0001', 1],
      [['full@example.com'], 2, '250 2.0.0 queued as SINK0002', 1],
    ]);
    assert.deepEqual(named(g, s.queueId!, 'deferred').map(outcome), [{ to: ['full@example.com'], reply: '450 4.2.2 mailbox full', relay: hop() }]);
    assert.equal(linesOf(g, s.queueId!).filter((l) => l.msg !== 'delivered' && l.msg !== 'deferred').length, 0, 'no other delivery line');
  });

  it('550 and 250: the delivered recipient has its line, the refused one a bounced line, then the dead-letter line', async () => {
    const g = await start();
    bed.next!.rcptReplies.set('gone@example.com', '550 5.1.1 gone');
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['gone@example.com', 'here@example.com'] });
    assert.equal(s.code, 250);
    await until(() => named(g, s.queueId!, 'permanent failure: moved to dead-letter').length > 0, 10_000, 'the dead-letter line');
    // The notice is queued (and durable) before the outcome lines, which come once the message's state is written.
    assert.deepEqual(linesOf(g, s.queueId!).map((l) => l.msg), ['failure notice queued', 'delivered', 'bounced', 'permanent failure: moved to dead-letter']);
    assert.deepEqual(named(g, s.queueId!, 'delivered').map(outcome), [{ to: ['here@example.com'], reply: '250 2.0.0 queued as SINK0001', relay: hop() }]);
    const [bounced] = named(g, s.queueId!, 'bounced');
    assert.deepEqual(outcome(bounced), { to: ['gone@example.com'], reply: '550 5.1.1 gone', relay: hop() });
    assert.equal(bounced.dsn_qid, named(g, s.queueId!, 'failure notice queued')[0].dsn_qid, 'the bounced line names the notice to the sender');
    const dead = named(g, s.queueId!, 'permanent failure: moved to dead-letter')[0];
    assert.deepEqual([dead.to, dead.failed], [['gone@example.com'], ['gone@example.com: 550 5.1.1 gone']]);
  });

  it('recipients sharing a reply share a line; two deferral replies give a line each', async () => {
    const g = await start();
    bed.next!.rcptReplies.set('busy@example.com', '451 4.2.0 mailbox busy');
    bed.next!.rcptReplies.set('full@example.com', '450 4.2.1 try again later');
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['busy@example.com', 'full@example.com', 'fine@example.com', 'also@example.com'] });
    assert.equal(s.code, 250);
    await until(() => named(g, s.queueId!, 'deferred').length === 2, 10_000, 'two deferred lines');
    const byRecipient = Object.fromEntries(named(g, s.queueId!, 'deferred').map((l) => [(l.to as string[]).join(','), l.reply]));
    assert.deepEqual(byRecipient, { 'busy@example.com': '451 4.2.0 mailbox busy', 'full@example.com': '450 4.2.1 try again later' });
    // one copy taken for both: one line, one queue id
    assert.deepEqual(named(g, s.queueId!, 'delivered').map((l) => [l.to, l.rcpts, l.reply]), [[['fine@example.com', 'also@example.com'], 2, '250 2.0.0 queued as SINK0001']]);
    assert.ok(named(g, s.queueId!, 'deferred').every((l) => l.delivered === undefined && l.failed === undefined), 'each recipient is named on its own outcome line only');
  });

  it('a next hop that does not answer: the deferred line names the host and address tried', async () => {
    const g = await start();
    await bed.next!.pause();
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['x@example.com'] });
    assert.equal(s.code, 250);
    await until(() => named(g, s.queueId!, 'deferred').length > 0, 10_000, 'the deferral');
    const [line] = named(g, s.queueId!, 'deferred');
    assert.equal(line.relay, hop());
    assert.match(line.reply as string, new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${bed.next!.port}`));
  });
});

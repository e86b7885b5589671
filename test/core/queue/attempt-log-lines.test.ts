// Each delivery attempt's log lines name every recipient it tried with that recipient's own reply, as Postfix logs a
// line per recipient: the deferred line quotes the reply that deferred the recipients it names, never another's.
import assert from 'node:assert/strict';
import type { TestGateway } from '../../helpers/gateway.ts';
import { rawHopBed } from './bed.ts';
import { sendMail, until } from './send.ts';

describe('queue: the log lines of a delivery attempt', function () {
  this.timeout(60_000);
  const bed = rawHopBed();
  const start = () => bed.start({ retry_schedule: ['1h'] });
  const linesOf = (g: TestGateway, qid: string) => g.logs.filter((l) => l.qid === qid && l.component === 'delivery');

  it('250, 550 and 451 in one attempt: the deferred line quotes the 451, and the 550 is named in the same attempt', async () => {
    const g = await start();
    bed.next!.rcptReplies.set('perm1@example.com', '550 5.1.1 no such user');
    bed.next!.rcptReplies.set('temp1@example.com', '451 4.2.0 mailbox busy');
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['ok1@example.com', 'perm1@example.com', 'temp1@example.com'] });
    assert.equal(s.code, 250);
    await until(() => linesOf(g, s.queueId!).some((l) => l.msg === 'deferred'), 10_000, 'the deferral');
    const lines = linesOf(g, s.queueId!);
    const deferred = lines.filter((l) => l.msg === 'deferred');
    assert.equal(deferred.length, 1, JSON.stringify(deferred));
    assert.deepEqual(deferred[0].to, ['temp1@example.com']);
    assert.equal(deferred[0].reply, '451 4.2.0 mailbox busy');
    assert.deepEqual(deferred[0].delivered, ['ok1@example.com']);
    assert.deepEqual(deferred[0].failed, ['perm1@example.com: 550 5.1.1 no such user']);
    const entry = await g.gateway.runtime.queue.load(s.queueId!);
    assert.equal(entry!.lastReply, '451 4.2.0 mailbox busy', 'the last reply is the one the message waits on');
  });

  it('two recipients deferred with different replies: one line each, each with its own reply', async () => {
    const g = await start();
    bed.next!.rcptReplies.set('busy@example.com', '451 4.2.0 mailbox busy');
    bed.next!.rcptReplies.set('full@example.com', '450 4.2.1 try again later');
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['busy@example.com', 'full@example.com', 'fine@example.com'] });
    assert.equal(s.code, 250);
    await until(() => linesOf(g, s.queueId!).filter((l) => l.msg === 'deferred').length === 2, 10_000, 'two deferred lines');
    const byRecipient = Object.fromEntries(linesOf(g, s.queueId!).filter((l) => l.msg === 'deferred').map((l) => [(l.to as string[]).join(','), l.reply]));
    assert.deepEqual(byRecipient, { 'busy@example.com': '451 4.2.0 mailbox busy', 'full@example.com': '450 4.2.1 try again later' });
    // the attempt's delivered recipient is named once, not once per line
    const named = linesOf(g, s.queueId!).flatMap((l) => (l.delivered as string[] | undefined) ?? []);
    assert.deepEqual(named, ['fine@example.com']);
  });
});

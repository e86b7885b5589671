// A destination is judged down or back by what its own servers did: a message with recipients on two routes must not
// wake a route that is down because the other route answered, nor label one route's failure with the other's body.
// A try made only because a destination seemed back, which finds it down again, does not use up a retry. With real
// sinks: a port nothing listens on, a recording smarthost, and a next hop that serves one session and then hangs up
// on every connection (scripted-hop.ts).
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { moatQueue } from './moat-queue.ts';
import { sendMail } from './send.ts';
import { startScriptedHop, type ScriptedHop } from '../relay/scripted-hop.ts';

describe('queue: each destination judged by its own servers', function () {
  this.timeout(60_000);
  let sink: Smarthost;
  let gw: TestGateway | undefined;
  let hop: ScriptedHop | undefined;
  beforeEach(async () => { sink = await startSmarthost(); });
  afterEach(async () => { await gw?.stop(); gw = undefined; await hop?.stop(); hop = undefined; await sink.stop(); });

  const linesOf = (g: TestGateway, qid: string | undefined, msg: string) => g.logs.filter((l) => l.qid === qid && l.msg === msg);

  it('a message to a down route and an up route does not wake the down one, and its reply names no body sent', async () => {
    const dead = await freePort();
    gw = await startGateway({
      config: {
        domains: ['example.com', 'down.test', 'a.test'],
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        routes: { 'down.test': `smtp://127.0.0.1:${dead}`, 'a.test': `smtp://127.0.0.1:${sink.port}` },
        queue: { retry_schedule: ['20s', '40s', '80s'], lifetime: '6m' },
      },
    });
    const g = gw;
    const waiting: string[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = await sendMail(g.port, { from: 'a@client.example', to: [`w${i}@down.test`] });
      assert.equal(sent.code, 250);
      waiting.push(sent.queueId!);
    }
    await waitUntil('the five first attempts', () => waiting.every((id) => linesOf(g, id, 'deferred').length === 1));
    assert.equal(g.logs.filter((l) => String(l.msg).startsWith('destination unreachable')).length, 1);

    const mixed = await sendMail(g.port, { from: 'a@client.example', to: ['first@down.test', 'second@a.test'] });
    assert.equal(mixed.code, 250);
    await waitUntil('the mixed message settled', () => linesOf(g, mixed.queueId, 'deferred').length === 1);

    // a.test got its copy, once; down.test was not taken for back, so nothing that waited for it was tried again.
    assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['second@a.test']]);
    assert.equal(linesOf(g, mixed.queueId, 'delivered').length, 1);
    assert.equal(g.logs.filter((l) => String(l.msg).startsWith('destination reachable again')).length, 0);
    // The first found it down; those after it were held back at once, untried (attempt 0), as new mail is.
    for (const id of waiting) assert.equal(linesOf(g, id, 'deferred').length, 1, `${id} settled once only`);
    assert.equal(linesOf(g, waiting[0], 'deferred')[0].attempt, 1);
    const [deferred] = linesOf(g, mixed.queueId, 'deferred');
    assert.deepEqual(deferred.to, ['first@down.test']);
    assert.match(String(deferred.reply), new RegExp(`cannot connect to 127\\.0\\.0\\.1:${dead}: connect ECONNREFUSED`));
    assert.doesNotMatch(String(deferred.reply), /while sending|before the message was sent/);

    const list = await moatQueue(g.dataDir, 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /first@down\.test \(pending\), second@a\.test \(delivered\)/);
    const mixedRow = list.stdout.split('\n').findIndex((l) => l.startsWith(mixed.queueId!));
    assert.match(list.stdout.split('\n')[mixedRow + 1], /attempts 1 .*last: delivery temporarily suspended: cannot connect to 127\.0\.0\.1:\d+: connect ECONNREFUSED \S+$/);
    assert.doesNotMatch(list.stdout, /while sending the message body/);
    const rows = (await moatQueue(g.dataDir, 'list', '--json')).json as Array<{ id: string; attempts: number }>;
    assert.deepEqual(rows.filter((r) => r.id === waiting[0] || r.id === mixed.queueId).map((r) => r.attempts), [1, 1]);
    assert.ok(rows.every((r) => r.attempts <= 1));
  });

  it('messages woken by a destination that answered once, and found down again, keep their place on the schedule', async () => {
    hop = await startScriptedHop();
    const h = hop;
    h.decide = () => 'hang up';
    // A session it serves ends after its message: a pooled connection must not carry the woken messages through.
    h.closeAfterMessage = true;
    gw = await startGateway({
      config: {
        domains: ['example.com', 'flap.test'],
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        routes: { 'flap.test': `smtp://127.0.0.1:${h.port}` },
        queue: { retry_schedule: ['30s', '1m'], lifetime: '1h' },
      },
    });
    const g = gw;
    const waiting: string[] = [];
    for (const to of ['w1@flap.test', 'w2@flap.test']) {
      const sent = await sendMail(g.port, { from: 'a@client.example', to: [to] });
      waiting.push(sent.queueId!);
    }
    await waitUntil('both deferred', () => waiting.every((id) => linesOf(g, id, 'deferred').length === 1));
    assert.ok(g.logs.some((l) => String(l.msg).startsWith('destination unreachable')));

    // One session is served: a new message, held back behind the probe and then flushed by id, gets through and wakes
    // the two, which then find the hop hanging up again.
    const fresh = await sendMail(g.port, { from: 'a@client.example', to: ['fresh@flap.test'] });
    await waitUntil('the new message held back', () => linesOf(g, fresh.queueId, 'deferred').length === 1);
    assert.match(String(linesOf(g, fresh.queueId, 'deferred')[0].reply), /^delivery temporarily suspended: /);
    let once = true;
    h.decide = () => (once ? ((once = false), 'serve') : 'hang up');
    assert.equal((await moatQueue(g.dataDir, 'flush', fresh.queueId!)).code, 0);
    await waitUntil('the fresh message delivered', () => linesOf(g, fresh.queueId, 'delivered').length === 1);
    await waitUntil('the woken messages settled again', () => waiting.every((id) => linesOf(g, id, 'deferred').length === 2));

    assert.deepEqual(h.delivered(), [['fresh@flap.test']], 'one message delivered, once');
    const woke = g.logs.filter((l) => String(l.msg).startsWith('destination reachable again'));
    assert.deepEqual(woke.map((l) => l.count), [2]);
    for (const id of waiting) {
      const again = linesOf(g, id, 'deferred')[1];
      // Tried and found down (the try is not counted), or held back once another found it down first. The second was
      // held back at once when it came (attempt 0), the first tried then (attempt 1).
      assert.equal(again.attempt, linesOf(g, id, 'deferred')[0].attempt, `${id}: ${JSON.stringify(again)}`);
      if (again.attempt_counted !== false) assert.match(String(again.reply), /^delivery temporarily suspended: /);
      // the next try is the schedule's first step (30s) still, not its second (1m)
      const delay = Date.parse(String(again.next_attempt)) - Date.parse(String(again.time));
      assert.ok(delay > 20_000 && delay <= 30_500, `${id}: next attempt ${delay} ms after the line`);
    }
    const rows = (await moatQueue(g.dataDir, 'list', '--json')).json as Array<{ id: string; attempts: number; state: string }>;
    assert.deepEqual(rows.filter((r) => waiting.includes(r.id)).map((r) => [r.attempts, r.state]), waiting.map((id) => [linesOf(g, id, 'deferred')[0].attempt, 'deferred']));
  });
});

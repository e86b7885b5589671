// New mail for a destination already held as down waits for its probe, as Postfix's qmgr defers mail for a dead
// destination at once ("delivery temporarily suspended"): it joins the destination's waiting list with the reason the
// destination is down, opens no connection of its own, and goes when the probe gets through. Before, each new message
// connected (20,000 messages: 20,290 connections to hosts known to be down). A real next hop on a bare socket hangs up
// on every connection (no server answers: down), then serves.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { startScriptedHop, type ScriptedHop } from '../relay/scripted-hop.ts';
import { sendMail } from './send.ts';

const NEW = 20;

describe('queue: new mail for a destination held as down', function () {
  this.timeout(60_000);
  let sink: Smarthost;
  let hop: ScriptedHop;
  let gw: TestGateway | undefined;
  beforeEach(async () => { sink = await startSmarthost(); hop = await startScriptedHop(); });
  afterEach(async () => { await gw?.stop(); gw = undefined; await hop.stop(); await sink.stop(); });

  const linesOf = (g: TestGateway, qid: string | undefined, msg: string) => g.logs.filter((l) => l.qid === qid && l.msg === msg);

  it('is deferred at once behind the probe, with the reason, opens no connection, and goes when the probe gets through', async () => {
    hop.decide = () => 'hang up';
    const g = gw = await startGateway({
      config: {
        domains: ['example.com', 'down.test', 'up.test'],
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        routes: { 'down.test': `smtp://127.0.0.1:${hop.port}` },
        queue: { retry_schedule: ['3s'], lifetime: '1h' },
      },
    });
    const first = await sendMail(g.port, { from: 'a@client.example', to: ['first@down.test'] });
    await waitUntil('the first message deferred', () => linesOf(g, first.queueId, 'deferred').length === 1);
    const reason = String(linesOf(g, first.queueId, 'deferred')[0].reply);
    assert.equal(g.logs.filter((l) => String(l.msg).startsWith('destination unreachable')).length, 1);

    const later: string[] = [];
    for (let i = 0; i < NEW; i++) later.push((await sendMail(g.port, { from: 'a@client.example', to: [`n${i}@down.test`] })).queueId!);
    // Mail for another destination is not held back by it.
    const other = await sendMail(g.port, { from: 'a@client.example', to: ['x@up.test'] });
    await waitUntil('the new messages deferred', () => later.every((id) => linesOf(g, id, 'deferred').length === 1));
    for (const id of later) {
      const [line] = linesOf(g, id, 'deferred');
      assert.equal(line.reply, `delivery temporarily suspended: ${reason}`);
      assert.equal(line.attempt, 0);
      assert.equal(line.relay, 'none');
    }
    // Every connection is the first message's: its first try, and its probes a retry step apart since.
    await waitUntil('no try under way', () => hop.sessions.every((sess) => sess.ended));
    assert.equal(hop.sessions.length, linesOf(g, first.queueId, 'deferred').length, 'no connection for the new messages');
    await waitUntil('the other destination\'s message delivered', () => linesOf(g, other.queueId, 'delivered').length === 1);
    assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['x@up.test']]);

    // The host serves again: the probe (the first message, a retry step on) gets through, and the rest follow it.
    hop.decide = () => 'serve';
    await waitUntil('every message delivered', () => hop.delivered().length === NEW + 1, 15_000);
    const delivered = g.logs.filter((l) => l.msg === 'delivered' && String(l.to).includes('down.test'));
    assert.equal(delivered[0].qid, first.queueId, 'the probe went first');
    assert.deepEqual(g.logs.filter((l) => String(l.msg).startsWith('destination reachable again')).map((l) => l.count), [NEW]);
    assert.deepEqual(hop.delivered().flat().sort(), ['first@down.test', ...later.map((_, i) => `n${i}@down.test`)].sort());
  });
});

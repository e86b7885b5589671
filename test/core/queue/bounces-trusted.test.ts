// queue.bounces.send: trusted tells the users of relay.networks servers their mail failed, which `authenticated`
// withheld without a word; every notice the setting withholds is now logged with its qid and why.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost, type ReceivedMessage } from '../../helpers/smarthost.ts';
import { sendMail, until } from './send.ts';

const isDsn = (m: ReceivedMessage) => m.mailFrom === '' && /report-type=delivery-status/.test(m.raw.toString());

describe('queue: failure notices for relay.networks senders (queue.bounces.send)', function () {
  this.timeout(30_000);
  let sink: Smarthost;
  let gw: TestGateway | undefined;

  beforeEach(async () => {
    sink = await startSmarthost();
    sink.rcptReplies.set('bad@remote.example', 550);
    sink.rcptReplies.set('bad@example.com', 550);
  });
  afterEach(async () => { await gw?.stop(); gw = undefined; await sink.stop(); });

  /** A gateway whose route for remote.example refuses bad@ with 550; the test client is in relay.networks when `relay`. */
  const start = (send: string, relay: boolean) => startGateway({
    config: {
      smarthost: `smtp://127.0.0.1:${sink.port}`,
      routes: { 'remote.example': `smtp://127.0.0.1:${sink.port}` },
      relay: { networks: relay ? ['127.0.0.1/32'] : [] },
      queue: { retry_schedule: ['300ms'], lifetime: '1h', bounces: { send } },
    },
  }).then((g) => { gw = g; return g; });

  const deadLettered = (g: TestGateway, qid?: string) => until(
    () => g.logs.some((l) => l.msg === 'permanent failure: moved to dead-letter' && l.qid === qid), 10_000, `dead-letter of ${qid}`);

  it('trusted: the sender on a relay.networks server gets the failure notice', async () => {
    const g = await start('trusted', true);
    const sent = await sendMail(g.port, { from: 'alice@example.com', to: ['bad@remote.example'] });
    assert.equal(sent.code, 250);
    const [dsn] = await sink.waitFor(1);
    assert.ok(isDsn(dsn), 'what reached the smarthost is a delivery status notification');
    assert.deepEqual(dsn.rcptTo, ['alice@example.com']);
    assert.match(dsn.raw.toString(), /^Final-Recipient: rfc822; bad@remote\.example$/m);
    assert.ok(g.logs.some((l) => l.msg === 'failure notice queued' && l.qid === sent.queueId));
    assert.ok(!g.logs.some((l) => /withheld/.test(String(l.msg))), 'nothing withheld');
  });

  it('authenticated: the same notice is withheld, and the log says so with the qid and why', async () => {
    const g = await start('authenticated', true);
    const sent = await sendMail(g.port, { from: 'alice@example.com', to: ['bad@remote.example'] });
    assert.equal(sent.code, 250);
    await deadLettered(g, sent.queueId);
    const line = g.logs.find((l) => l.msg === 'failure notice withheld from the sender');
    assert.ok(line, 'a line for the withheld notice');
    assert.equal(line.level, 'info');
    assert.equal(line.qid, sent.queueId);
    assert.equal(line.from, 'alice@example.com');
    assert.deepEqual(line.about, ['bad@remote.example']);
    assert.match(String(line.reason), /send is authenticated and the sender did not log in \(its client was in relay\.networks: send: trusted counts those\)/);
    assert.equal(sink.messages.filter(isDsn).length, 0, 'no notice reached the smarthost');
    assert.ok(!g.logs.some((l) => l.msg === 'failure notice queued'));
  });

  it('trusted: a client outside relay.networks that did not log in gets none (no backscatter), logged', async () => {
    const g = await start('trusted', false);
    const sent = await sendMail(g.port, { from: 'forged@elsewhere.example', to: ['bad@example.com'] });
    assert.equal(sent.code, 250);
    await deadLettered(g, sent.queueId);
    const line = g.logs.find((l) => l.msg === 'failure notice withheld from the sender');
    assert.equal(line?.qid, sent.queueId);
    assert.match(String(line?.reason), /send is trusted and the sender neither logged in nor was in relay\.networks/);
    assert.equal(sink.messages.filter(isDsn).length, 0);
  });
});

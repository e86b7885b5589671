// What a message owes its sender falls due on time whether or not the message is tried then: the delay notice at
// delay_after (Postfix's delay_warning_time), and for one waiting behind a destination that is down, the failure
// notice when its lifetime ends, not at the probe's next turn hours later. A port nothing listens on is the down
// destination; the recording smarthost takes the notices.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost, type ReceivedMessage } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { moatQueue } from './moat-queue.ts';
import { sendMail } from './send.ts';

const notices = (sink: Smarthost, action: string) => sink.messages.filter((m) => m.mailFrom === '' && m.raw.toString('latin1').includes(`Action: ${action}`));
const about = (m: ReceivedMessage) => /Final-Recipient: rfc822; (\S+)/.exec(m.raw.toString('latin1'))?.[1];

describe('queue: notices of messages that wait for a down destination', function () {
  this.timeout(60_000);
  let sink: Smarthost;
  let gw: TestGateway | undefined;
  beforeEach(async () => { sink = await startSmarthost(); });
  afterEach(async () => { await gw?.stop(); gw = undefined; await sink.stop(); });

  const start = async (queue: Record<string, unknown>) => {
    const dead = await freePort();
    gw = await startGateway({
      config: {
        domains: ['example.com', 'down.test'],
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        routes: { 'down.test': `smtp://127.0.0.1:${dead}` },
        queue,
      },
    });
    return gw;
  };
  const linesOf = (g: TestGateway, qid: string | undefined, msg: string) => g.logs.filter((l) => l.qid === qid && l.msg === msg);

  it('each waiting message gets its delay notice at delay_after, before its next attempt, worded in the singular', async () => {
    const g = await start({ retry_schedule: ['1h'], lifetime: '1d', bounces: { delay_notices: 'once', delay_after: '2s' } });
    const ids: string[] = [];
    for (const to of ['x@down.test', 'y@down.test']) ids.push((await sendMail(g.port, { from: 'sender@client.example', to: [to] })).queueId!);
    await waitUntil('both messages deferred', () => ids.every((id) => linesOf(g, id, 'deferred').length === 1));

    await waitUntil('two delay notices', () => notices(sink, 'delayed').length === 2, 15_000);
    const got = notices(sink, 'delayed');
    assert.deepEqual(got.map(about).sort(), ['x@down.test', 'y@down.test']);
    for (const m of got) {
      assert.deepEqual(m.rcptTo, ['sender@client.example']);
      const text = m.raw.toString('latin1');
      assert.match(text, /after 1 minute\. /);
      assert.doesNotMatch(text, /1 minutes/);
      // The second came once the destination was held as down: its reason says so, as Postfix's does.
      assert.match(text, /Diagnostic-Code: X-Mailmoat; (delivery temporarily suspended: )?cannot connect to 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    }
    // Neither was tried again for it (the second, held back behind the first, not at all), and each was told once.
    for (const id of ids) {
      assert.equal(linesOf(g, id, 'deferred').length, 1);
      assert.equal(linesOf(g, id, 'delay notice queued').length, 1);
    }
    assert.equal(linesOf(g, ids[0], 'deferred')[0].attempt, 1);
    const rows = (await moatQueue(g.dataDir, 'list', '--json')).json as Array<{ id: string; attempts: number; state: string }>;
    const mine = rows.filter((r) => ids.includes(r.id));
    assert.deepEqual(mine.map((r) => r.state), ['deferred', 'deferred']);
    assert.ok(mine.every((r) => r.attempts <= 1));
  });

  it('a message waiting for a down destination is dead-lettered when its lifetime ends, not at its next turn', async () => {
    const g = await start({ retry_schedule: ['1h'], lifetime: '3s' });
    const sent = await sendMail(g.port, { from: 'sender@client.example', to: ['z@down.test'] });
    await waitUntil('the first attempt', () => linesOf(g, sent.queueId, 'deferred').length === 1);

    await waitUntil('the failure notice', () => notices(sink, 'failed').length === 1, 15_000);
    const [notice] = notices(sink, 'failed');
    assert.deepEqual(notice.rcptTo, ['sender@client.example']);
    assert.equal(about(notice), 'z@down.test');
    assert.deepEqual(linesOf(g, sent.queueId, 'lifetime expired: moved to dead-letter').map((l) => l.to), [['z@down.test']]);
    assert.deepEqual(linesOf(g, sent.queueId, 'deferred').map((l) => l.attempt), [1], 'not tried again');

    const dead = await moatQueue(g.dataDir, 'list', '--folder', 'deadletter');
    assert.equal(dead.code, 0, dead.stderr);
    assert.match(dead.stdout, new RegExp(`^${sent.queueId}\\s+\\S+\\s+dead\\s+<sender@client\\.example> -> z@down\\.test \\(failed\\)`, 'm'));
    assert.match(dead.stdout, /failed <z@down\.test>: cannot connect to 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    assert.match((await moatQueue(g.dataDir, 'list')).stdout, /^queue is empty$/m);
  });
});

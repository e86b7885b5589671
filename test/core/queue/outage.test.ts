// Smarthost outage: messages wait on the retry schedule and all go, oldest first, once the smarthost is back.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { sendMail, sleep } from './send.ts';

describe('queue: smarthost outage', function () {
  this.timeout(60_000);
  let gw: TestGateway | undefined;
  let sink: Smarthost | undefined;
  afterEach(async () => { await gw?.stop(); await sink?.stop(); gw = undefined; sink = undefined; });

  it('retries on the schedule while the smarthost is down, then delivers everything in order of age', async () => {
    const port = await freePort();
    const schedule = [400, 800];
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${port}`, queue: { retry_schedule: ['400ms', '800ms'], concurrency: 1 } } });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const s = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: `outage ${i}` });
      assert.equal(s.code, 250);
      ids.push(s.queueId!);
      await sleep(60);
    }
    await sleep(2600);
    // The oldest message probes the smarthost at the start and then after 400 ms, 800 ms, 800 ms…; the others wait
    // for it rather than hammer a host that is down (those that came once it was held as down are not tried at all).
    const entries = await Promise.all(ids.map((id) => gw!.gateway.runtime.queue.load(id)));
    const probe = entries[0]!;
    assert.ok(probe.history.length >= 3, `${probe.history.length} attempts of the oldest message`);
    assert.match(probe.lastReply ?? '', /ECONNREFUSED|ECONNECTION/);
    const gaps = probe.history.slice(1).map((h, i) => h.at - probe.history[i].at);
    gaps.forEach((g, i) => {
      const want = schedule[Math.min(i, schedule.length - 1)];
      assert.ok(g >= want - 20 && g < want + 250, `gap ${i + 1} is ${g} ms, the schedule says ${want}`);
    });
    for (const e of entries.slice(1)) assert.ok(e && e.history.length <= 1, `${e?.id} waits for the probe`);
    assert.ok(gw.logs.some((l) => String(l.msg).startsWith('destination unreachable')));
    sink = await startSmarthost({ port });
    const got = await sink.waitFor(ids.length, 10_000);
    const order = got.map((m) => /^Subject: outage (\d+)/m.exec(m.raw.toString())![1]);
    assert.deepEqual(order, ['0', '1', '2', '3', '4', '5', '6', '7']);
    assert.ok(gw.logs.some((l) => String(l.msg).startsWith('destination reachable again')));
    await gw.gateway.runtime.delivery.idle();
    assert.deepEqual(await gw.gateway.runtime.queue.list(), []);
  });
});

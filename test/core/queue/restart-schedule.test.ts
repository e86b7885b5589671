// A restart keeps each deferred message's next attempt, as Postfix does: 50 messages deferred a minute away, the
// gateway stopped and started again, and none is tried early. Proved by a positive event: a flush of one message
// reaches the smarthost while it has seen no other connection. Then a flush of all delivers each exactly once.
import assert from 'node:assert/strict';
import { startGateway } from '../../helpers/gateway.ts';
import { queueBed } from './bed.ts';
import { startHopProxy, type HopProxy } from './hop-proxy.ts';
import { moatQueue } from './moat-queue.ts';
import { sendMail, until } from './send.ts';

const N = 50;
const subjectOf = (raw: Buffer) => /^Subject: (.*)$/m.exec(raw.toString('latin1'))?.[1] ?? '?';

describe('queue: deferred messages across a restart', function () {
  this.timeout(90_000);
  const bed = queueBed('mm-restart-schedule-');
  let hop: HopProxy | undefined;
  afterEach(async () => { await hop?.close(); hop = undefined; });

  it('keeps their next attempt: none is tried before it, and a flush still sends them now', async () => {
    hop = await startHopProxy(bed.sink.port);
    const config = { smarthost: `smtp://127.0.0.1:${hop.port}`, queue: { retry_schedule: ['60s'] } };
    bed.sink.rcptReplies.set('later@example.com', 451);
    bed.gw = await startGateway({ dataDir: bed.dataDir, config });
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const r = await sendMail(bed.gw.port, { from: 'a@client.example', to: ['later@example.com'], subject: `m${i}` });
      assert.equal(r.code, 250, r.text);
      ids.push(r.queueId!);
    }
    const logs = bed.gw.logs;
    await until(() => logs.filter((l) => l.msg === 'deferred').length === N, 30_000, `${N} deferred`);
    await bed.gw.stop();
    bed.gw = undefined;

    bed.sink.rcptReplies.clear();
    hop.connections = 0;
    bed.gw = await startGateway({ dataDir: bed.dataDir, config });
    assert.ok(bed.gw.logs.some((l) => l.msg === 'queue recovered' && l.messages === N));
    const one = await moatQueue(bed.dataDir, 'flush', ids[7]);
    assert.equal(one.code, 0, one.stderr);
    const [first] = await bed.sink.waitFor(1, 15_000);
    assert.equal(subjectOf(first.raw), 'm7');
    assert.equal(hop.connections, 1, 'no attempt but the flushed one reached the next hop');
    assert.equal(bed.sink.messages.length, 1);

    const all = await moatQueue(bed.dataDir, 'flush');
    assert.equal(all.code, 0, all.stderr);
    await bed.sink.waitFor(N, 30_000);
    const gwLogs = bed.gw.logs;
    await until(() => gwLogs.filter((l) => l.msg === 'delivered').length === N, 10_000, `${N} delivered lines`);
    const subjects = bed.sink.messages.map((m) => subjectOf(m.raw)).sort();
    assert.deepEqual(subjects, Array.from({ length: N }, (_, i) => `m${i}`).sort(), 'each delivered exactly once');
  });
});

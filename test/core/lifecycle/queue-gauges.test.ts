// The queue's gauges by folder: a message put on hold leaves the scheduled count for the held one instead of vanishing
// from the metrics; quarantined, dead-lettered and deferred mail and the oldest message's age are counted too.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import { startGateway } from '../../helpers/gateway.ts';
import { freePort } from '../../helpers/ports.ts';
import { ControlClient, controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { QueueGauges, prometheusText } from '../../../core/metrics.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const CORE = pathToFileURL(path.resolve('core/index.ts')).href;

async function send(port: number, subject: string): Promise<string> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    const info = await t.sendMail({ from: 'a@client.example', to: 'user@example.com', subject, text: 'hello' });
    return /queued as (\S+)/.exec(info.response)?.[1] ?? info.response;
  } finally { t.close(); }
}

describe('queue gauges', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-gauges-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('counts deferred, held and quarantined mail and the oldest message\'s age in a running gateway', async () => {
    const module = path.join(dir, 'quarantines.ts');
    fs.writeFileSync(module, `
import { definePlugin, outcome, s } from ${JSON.stringify(CORE)};
export default definePlugin({
  name: 'quarantines', description: 'test', configSchema: s.object({}),
  create: () => ({ hooks: { data: async (ctx) => (ctx.message!.headers.first('subject') ?? '').includes('quarantine') ? outcome.quarantine('held for the test') : undefined } }),
});
`);
    // Nothing listens on the smarthost's port: every attempt is deferred.
    const gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${await freePort()}`, queue: { retry_schedule: ['1h'] }, plugins: [{ name: 'quarantines', module }] } });
    try {
      const read = () => controlRequest(socketPath(gw.dataDir), { op: 'metrics' }, 10_000) as Promise<Record<string, number>>;
      const id = await send(gw.port, 'to be held');
      await send(gw.port, 'please quarantine');
      await waitFor('the first attempt to be deferred', async () => (await read()).queue_deferred === 1 || undefined, 15_000);
      let m = await read();
      assert.equal(m.queue_scheduled, 1);
      assert.equal(m.queue_held, 0);

      assert.equal(await new ControlClient(socketPath(gw.dataDir)).hold(id), 'done');
      // The folders are looked at every 5 s.
      m = await waitFor('the held message to be counted', async () => { const x = await read(); return x.queue_held === 1 ? x : undefined; }, 15_000);
      assert.equal(m.queue_scheduled, 0);
      assert.equal(m.queue_deferred, 0);
      assert.equal(m.queue_quarantined, 1);
      assert.equal(m.queue_deadletter, 0);
      assert.ok(m.queue_oldest_age_seconds >= 0 && m.queue_oldest_age_seconds < 60, `oldest age ${m.queue_oldest_age_seconds}`);
      const text = prometheusText(m);
      assert.match(text, /^# TYPE mailmoat_queue_held gauge\nmailmoat_queue_held 1$/m);
      assert.match(text, /^# TYPE mailmoat_queue_quarantined gauge\nmailmoat_queue_quarantined 1$/m);
      assert.match(text, /^# TYPE mailmoat_queue_oldest_age_seconds gauge\n/m);
    } finally {
      await gw.stop();
    }
  });

  it('counts each folder from its names, and stops counting a released message as held before the next look', async () => {
    const dirs = { queue: path.join(dir, 'queue'), quarantine: path.join(dir, 'quarantine'), deadletter: path.join(dir, 'deadletter') };
    for (const d of Object.values(dirs)) fs.mkdirSync(d);
    const old = Date.now() - 3_600_000;
    const put = (folder: keyof typeof dirs, id: string, state: Record<string, unknown>) => {
      fs.writeFileSync(path.join(dirs[folder], `${id}.eml`), 'Subject: x\r\n\r\nhi\r\n');
      fs.writeFileSync(path.join(dirs[folder], `${id}.json`), JSON.stringify({ id, receivedAt: old, ...state }));
    };
    put('queue', 'held1', { held: true });
    put('queue', 'sched1', { held: false });
    put('queue', 'gone1', { held: false }); // neither held nor scheduled: a message moving between folders
    fs.writeFileSync(path.join(dirs.queue, 'spooled.eml'), 'being received');
    put('deadletter', 'dead1', {});
    put('deadletter', 'dead2', {});
    fs.writeFileSync(path.join(dirs.deadletter, 'x.broken.json'), '{}');
    // Deferred: its next attempt is later; due: its retry time has come (as `moat queue list` calls them).
    const scheduled = [{ id: 'sched1', nextAttemptAt: Date.now() + 60_000, receivedAt: Date.now() - 60_000 }, { id: 'due1', nextAttemptAt: Date.now() - 1_000, receivedAt: Date.now() - 30_000 }];
    const g = new QueueGauges(dirs, { busy: [], scheduled: () => scheduled });
    await g.refresh();
    const v = g.values();
    assert.deepEqual({ ...v, queue_oldest_age_seconds: Math.round(v.queue_oldest_age_seconds / 60) }, {
      queue_active: 0, queue_deferred: 1, queue_held: 1, queue_quarantined: 0, queue_deadletter: 2, queue_oldest_age_seconds: 60,
    });
    // Released: scheduled at once, so no longer held, before any refresh.
    scheduled.push({ id: 'held1', nextAttemptAt: Date.now(), receivedAt: old });
    assert.equal(g.values().queue_held, 0);
    put('quarantine', 'q1', {});
    await g.refresh();
    assert.equal(g.values().queue_quarantined, 1);
  });
});

// A stop while the smarthost hangs (it takes the message and never answers the final dot): deliveries waiting for a
// pooled connection are not started, those sending are cut off after the stop's grace, nothing counts as an attempt
// or a deferral, and the next start delivers every message once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { startGateway, startRelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { startHungSmarthost, type HungSmarthost } from './hung-smarthost.ts';

const MESSAGES = 6;
const CONNECTIONS = 2;

async function sendMessages(port: number): Promise<void> {
  for (let i = 0; i < MESSAGES; i++) {
    const d = await SmtpDialog.connect(port);
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const r = await d.data(testMessage({ subject: `across the stop ${i}` }));
    assert.equal(r.code, 250, r.text);
    await d.quit();
  }
}

// The stop's 10 s grace for deliveries under way, shortened: what matters is that the stop ends with it.
const STOP_GRACE_MS = 3_000;

describe('gateway stop with a hung smarthost', function () {
  this.timeout(90_000);
  let dataDir: string;
  let hung: HungSmarthost;
  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'stop-hung-'));
    hung = await startHungSmarthost();
  });
  afterEach(async () => {
    await hung.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('ends within the grace, starts no new session, counts no attempt, and the next start delivers each message once', async () => {
    // A timeout far beyond the grace: before, the stop waited for it, one pooled batch after another.
    const gw = await startGateway({ dataDir, config: { smarthost: { url: `smtp://127.0.0.1:${hung.port}`, timeout: '1m', connections: CONNECTIONS } }, timings: { deliveryStopGraceMs: STOP_GRACE_MS } });
    let stopped = false;
    try {
      await sendMessages(gw.port);
      await hung.waitHung(CONNECTIONS);
      assert.equal(gw.gateway.runtime.delivery.busy.length, MESSAGES, 'the others wait for a pooled connection');
      const sessions = hung.sessions;

      const t0 = Date.now();
      await gw.stop();
      stopped = true;
      const ms = Date.now() - t0;
      assert.ok(ms >= STOP_GRACE_MS - 500, `the sessions under way got their grace (${ms} ms)`);
      assert.ok(ms < STOP_GRACE_MS + 5_000, `the stop ended soon after the grace (${ms} ms)`);
      // The gateway closed its ends before the stop returned; the smarthost hears of it once the FIN reaches it, which
      // on a loaded machine can be after. Left uncut, the sessions would stay open for the 1 minute timeout.
      await waitUntil(() => `the hung sessions cut off (${hung.open} still open)`, () => hung.open === 0, 5_000);
      assert.equal(hung.sessions, sessions, 'no session was opened after the stop began');

      const msgs = gw.logs.map((l) => l.msg);
      assert.equal(msgs.filter((m) => m === 'deferred').length, 0, 'nothing logged as a deferral');
      assert.equal(msgs.filter((m) => m === 'not delivered: the gateway is stopping; it is sent at the next start').length, MESSAGES);
      assert.equal(msgs.filter((m) => m === 'destination unreachable: its other messages wait for this one to get through').length, 0);
      const cut = gw.logs.find((l) => l.msg === 'stopping: cutting off deliveries still under way; they are sent at the next start');
      assert.equal(cut?.count, CONNECTIONS);

      const queued = await new QueueStore(dataDir).list('queue');
      assert.equal(queued.length, MESSAGES);
      for (const e of queued) {
        assert.equal(e.attempts, 0, `${e.id}: no attempt counted`);
        assert.deepEqual(e.history, [], `${e.id}: no attempt recorded`);
        assert.deepEqual(e.recipients.map((r) => r.status), ['pending']);
      }
    } finally {
      if (!stopped) await gw.stop();
    }

    const next = await startRelayingGateway({ dataDir });
    try {
      await next.sink.waitFor(MESSAGES);
      await next.gateway.runtime.delivery.idle();
      const subjects = next.sink.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString('latin1'))?.[1]).sort();
      assert.deepEqual(subjects, Array.from({ length: MESSAGES }, (_, i) => `across the stop ${i}`).sort());
      assert.equal((await new QueueStore(dataDir).list('queue')).length, 0);
    } finally {
      await next.stop();
    }
  });
});

// A reload that replaces a smarthost which hangs: the message waiting for the old relay's only connection goes to the
// new smarthost once the old relay is closed, with no failed attempt counted or logged against it; the one hung on
// the old relay is still reached by a stop, which cuts it off after its grace and keeps it queued for the next start.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateConfig } from '../../../core/config/load.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { startSmarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { startHungSmarthost } from './hung-smarthost.ts';

// The gateway's 30 s for what a reload replaced and 10 s of grace at a stop, shortened: the test is about what happens
// when they run out, not about their length.
const RETIRE_MS = 3_000;
const GRACE_MS = 2_000;

describe('reload away from a hung smarthost', function () {
  this.timeout(60_000);

  it('sends the waiting message through the new relay without a failed attempt, and the stop cuts off the hung one', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'reload-hung-'));
    const hung = await startHungSmarthost();
    const sink = await startSmarthost();
    const gw = await startGateway({ dataDir, config: { smarthost: { url: `smtp://127.0.0.1:${hung.port}`, timeout: '1m', connections: 1 } }, timings: { retireAfterMs: RETIRE_MS, deliveryStopGraceMs: GRACE_MS } });
    let stopped = false;
    try {
      for (const subject of ['hung on the old relay', 'waiting for the old relay']) {
        const d = await SmtpDialog.connect(gw.port);
        await d.hello();
        await d.cmd('MAIL FROM:<sender@client.example>');
        await d.cmd('RCPT TO:<user@example.com>');
        assert.equal((await d.data(testMessage({ subject }))).code, 250);
        await d.quit();
        if (subject.startsWith('hung')) await hung.waitHung(1);
      }
      assert.equal(gw.gateway.runtime.delivery.busy.length, 2);
      const next = await validateConfig({ ...gw.gateway.runtime.config, smarthost: `smtp://127.0.0.1:${sink.port}` });
      assert.equal(await gw.gateway.reload(next), true);

      // The old relay is closed when its grace for deliveries still using it (RETIRE_MS) is over.
      const raw = await sink.waitForText('waiting for the old relay', RETIRE_MS + 15_000);
      assert.match(raw, /^Subject: waiting for the old relay/m);
      const delivered = gw.logs.find((l) => l.msg === 'delivered');
      assert.equal(delivered?.attempt, 1, 'its one attempt is the one that delivered it');
      assert.equal(gw.logs.filter((l) => l.msg === 'deferred').length, 0);
      assert.equal(gw.logs.filter((l) => l.msg === 'destination unreachable: its other messages wait for this one to get through').length, 0);
      assert.equal(hung.sessions, 1);

      const t0 = Date.now();
      await gw.stop();
      stopped = true;
      const ms = Date.now() - t0;
      assert.ok(ms < GRACE_MS + 5_000, `the hung delivery on the replaced relay was cut off (${ms} ms)`);
      const queued = await new QueueStore(dataDir).list('queue');
      assert.equal(queued.length, 1);
      assert.equal(queued[0].attempts, 0);
      assert.equal(sink.messages.length, 1);
    } finally {
      if (!stopped) await gw.stop();
      await hung.stop();
      await sink.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

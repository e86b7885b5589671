// The admin listener outlives the rest of a stop: while deliveries under way finish (here, a hung smarthost held until
// the stop's grace cuts it off), /health/live answers 200, /health/ready 503 stopping and /metrics is served, though
// the SMTP port is closed already; the listener closes last.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { startHungSmarthost } from '../lifecycle/hung-smarthost.ts';

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('admin HTTP listener during a stop', function () {
  this.timeout(60_000);

  it('answers live 200, ready 503 stopping and /metrics until the stop is done, then closes', async () => {
    const hung = await startHungSmarthost();
    const gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'] }, smarthost: { url: `smtp://127.0.0.1:${hung.port}`, timeout: '1m' } }, timings: { deliveryStopGraceMs: 4_000 } });
    const httpPort = gw.gateway.admin!.addresses[0].port;
    const url = (p: string) => `http://127.0.0.1:${httpPort}${p}`;
    let stopping: Promise<void> | undefined;
    try {
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      await d.cmd('MAIL FROM:<sender@client.example>');
      await d.cmd('RCPT TO:<user@example.com>');
      assert.equal((await d.data(testMessage())).code, 250);
      await d.quit();
      await hung.waitHung(1);

      let done = false;
      stopping = gw.gateway.stop().then(() => { done = true; });
      // Past the SMTP listeners: what is left is the delivery's grace.
      await waitFor('the SMTP listener to refuse connections', async () => (await refused(gw.port)) || undefined);
      let polls = 0;
      while (!done) {
        const live = await fetch(url('/health/live'));
        const ready = await fetch(url('/health/ready'));
        const metrics = await fetch(url('/metrics'));
        // The stop may have ended while these were answered: only answers from before its end count.
        if (done) break;
        assert.equal(live.status, 200);
        assert.deepEqual(await live.json(), { status: 'ok' });
        assert.equal(ready.status, 503);
        assert.deepEqual(await ready.json(), { status: 'unavailable', reason: 'stopping' });
        assert.equal(metrics.status, 200);
        assert.match(await metrics.text(), /^mailmoat_messages_total\{verdict="accept"\} 1$/m);
        polls++;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(polls >= 5, `the listener answered through the stop (${polls} rounds)`);
      await stopping;
      assert.equal(await refused(httpPort), true, 'closed once the stop is done');
    } finally {
      await (stopping ?? gw.gateway.stop());
      await gw.stop();
      await hung.stop();
    }
  });
});

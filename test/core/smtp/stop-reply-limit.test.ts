// The limits of a stop, shortened so they can be watched: a message whose checks outlast the reply limit gets 421
// 4.3.2 and the stop goes on; a session whose command hooks still run at the data grace gets 421 too.
import assert from 'node:assert/strict';
import path from 'node:path';
import { endSessionsForStop } from '../../../core/smtp/session-shutdown.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const SLOW_DATA = path.resolve(import.meta.dirname, '..', 'lifecycle', 'slow-data-plugin.ts');
const SLOW_DATA_START = path.resolve(import.meta.dirname, 'slow-data-start-plugin.ts');

/** Runs the stop's session ending on the gateway's own listeners with the limits given. */
function endSessions(gw: RelayingGateway, limits: { dataGraceMs: number; replyLimitMs: number }): Promise<void> {
  return endSessionsForStop(gw.gateway.listeners.map((l) => ({ server: l.server, listener: l.kind, log: () => gw.gateway.runtime.log })), limits);
}

describe('stop limits', function () {
  this.timeout(30_000);

  it('tells a client whose message is still being checked at the reply limit 421, and ends in bounded time', async () => {
    const gw = await startRelayingGateway({ config: { plugins: [{ name: 'slow-data', module: SLOW_DATA, delay_ms: 6_000 }] } });
    try {
      const d = await SmtpDialog.connect(gw.port);
      assert.equal((await d.hello()).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await d.cmd('DATA')).code, 354);
      d.write(testMessage({ subject: 'checked for too long' }) + '\r\n.\r\n');
      await new Promise((r) => setTimeout(r, 300));
      const at = Date.now();
      const ended = endSessions(gw, { dataGraceMs: 500, replyLimitMs: 2_000 }).then(() => Date.now() - at);
      // Past the data grace its reply is still owed: a message whose dot arrived is not cut at the grace.
      const reply = await d.read(5_000);
      const after = Date.now() - at;
      assert.equal(reply.code, 421);
      assert.match(reply.text, /^4\.3\.2 /);
      assert.ok(after >= 1_900 && after < 3_000, `421 after ${after} ms`);
      const took = await ended;
      assert.ok(took < 3_000, `the sessions ended in ${took} ms`);
      assert.ok(gw.logs.some((l) => l.msg === 'stopping: a message still being checked is cut off; its client may send it again' && l.level === 'warn'));
    } finally {
      await gw.stop();
    }
  });

  it('tells a session whose DATA hooks still run at the grace 421', async () => {
    const gw = await startRelayingGateway({ config: { plugins: [{ name: 'slow-data-start', module: SLOW_DATA_START, delay_ms: 10_000 }] } });
    try {
      const d = await SmtpDialog.connect(gw.port);
      assert.equal((await d.hello()).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      d.write('DATA\r\n');
      await new Promise((r) => setTimeout(r, 300));
      const at = Date.now();
      const ended = endSessions(gw, { dataGraceMs: 1_000, replyLimitMs: 5_000 }).then(() => Date.now() - at);
      const reply = await d.read(5_000);
      const after = Date.now() - at;
      assert.equal(reply.code, 421);
      assert.match(reply.text, /^4\.3\.2 /);
      assert.ok(after >= 900 && after < 2_000, `421 after ${after} ms`);
      assert.ok(await ended < 7_000);
    } finally {
      await gw.stop();
    }
  });
});

// Every reply a stop gives is `421 4.3.2`, as the README promises: to a session that had just connected when the stop
// began (its greeting was still owed), and to a command smtp-server reads itself while its server closes.
import assert from 'node:assert/strict';
import { endSessionsForStop } from '../../../core/smtp/session-shutdown.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

function endSessions(gw: TestGateway): Promise<void> {
  return endSessionsForStop(gw.gateway.listeners.map((l) => ({ server: l.server, listener: l.kind, log: () => gw.gateway.runtime.log })), { dataGraceMs: 5_000, replyLimitMs: 8_000 });
}

describe('replies during a stop', function () {
  this.timeout(30_000);
  let gw: TestGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });

  it('greets a session that connected just before the stop with 421 4.3.2, not 220 and then a bare 421 at EHLO', async () => {
    gw = await startGateway({ config: { server: { greeting_delay: '600ms' } } });
    const d = await SmtpDialog.connect(gw.port);
    await new Promise((r) => setTimeout(r, 100));
    const ended = endSessions(gw);
    const first = await d.read(5_000);
    // Had the greeting been 220, the client's EHLO is what the stop answers.
    const reply = first.code === 220 ? await d.cmd('EHLO client.test') : first;
    assert.equal(reply.code, 421);
    assert.match(reply.text, /^4\.3\.2 /);
    await ended;
  });

  it('answers a command read after a message taken during the stop with 421 4.3.2', async () => {
    gw = await startGateway();
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello()).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.cmd('DATA')).code, 354);
    d.write(testMessage({ subject: 'during the stop' }));
    await new Promise((r) => setTimeout(r, 100));
    const ended = endSessions(gw);
    await new Promise((r) => setTimeout(r, 150));
    // The final dot and a pipelined command behind it (RFC 2920): the message is taken, the command told of the stop.
    d.write('.\r\nMAIL FROM:<b@client.example>\r\n');
    assert.equal((await d.read(5_000)).code, 250);
    const reply = await d.read(5_000);
    assert.equal(reply.code, 421);
    assert.match(reply.text, /^4\.3\.2 /);
    await ended;
  });
});

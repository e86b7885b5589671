// A message taken forgives the errors before it, as Postfix's smtpd sets its error count back to 0 when a message is
// queued (smtpd_hard_error_limit: errors "without delivering mail"): a server that sends many messages over one
// connection, a few of them refused after the final dot, is never cut off for refusals spread over the session; one
// that only sends what is refused still is, at limits.max_errors. Real gateway, raw SMTP.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { repliesUntilClosed } from './replies-until-closed.ts';

const REFUSE_MESSAGE = path.resolve(import.meta.dirname, 'refuse-message-plugin.ts');
const FAREWELL = '421 4.7.0 Too many errors, closing connection';
const ENVELOPE = 'MAIL FROM:<bulk@sender.test>\r\nRCPT TO:<user@example.com>\r\nDATA\r\n';
const message = (subject: string) => `${testMessage({ subject })}.\r\n`;

describe('limits.max_errors starts again after a message taken', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  before(async () => {
    // The default limit, 10.
    gw = await startGateway({ config: { plugins: [{ name: 'refuse-message', module: REFUSE_MESSAGE }] } });
  });
  after(async () => { await gw?.stop(); });

  async function session(ip: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello({ xclient: { addr: ip } })).code, 250);
    return d;
  }
  const closedLine = (ip: string) => waitFor(`the connection closed line of ${ip}`, () => gw.logs.find((l) => l.msg === 'connection closed' && l.client === ip));

  it('never cuts off a client whose refused messages (every third of 36) come between messages taken', async () => {
    const ip = '203.0.113.231';
    const d = await session(ip);
    const dots: number[] = [];
    try {
      for (let n = 1; n <= 36; n++) {
        // A refused recipient now and then too: counted, and forgiven with the rest by the next message taken.
        if (n % 4 === 0) assert.equal((await d.cmd('MAIL FROM:<bulk@sender.test>')).code, 250);
        if (n % 4 === 0) assert.equal((await d.cmd('RCPT TO:<someone@elsewhere.test>')).code, 554);
        if (n % 4 === 0) assert.equal((await d.cmd('RSET')).code, 250);
        d.write(ENVELOPE);
        const envelope = [await d.read(), await d.read(), await d.read()];
        assert.deepEqual(envelope.map((r) => r.code), [250, 250, 354], `message ${n}`);
        d.write(message(n % 3 === 0 ? 'refuse-550' : 'fine'));
        dots.push((await d.read()).code);
      }
      assert.equal((await d.cmd('NOOP')).code, 250);
      assert.equal(d.closed, false);
    } finally { await d.quit(); }
    assert.deepEqual(dots, Array.from({ length: 36 }, (_, i) => ((i + 1) % 3 === 0 ? 550 : 250)));
    assert.equal(gw.logs.some((l) => l.msg === 'too many errors: disconnecting' && l.client === ip), false);
    // The closing line still counts every refusal of the session: 12 messages and 9 recipients.
    assert.equal((await closedLine(ip)).error_count, 21);
  });

  it('still cuts off a client that pipelines only messages refused at the final dot, at the tenth', async () => {
    const ip = '203.0.113.232';
    const d = await session(ip);
    const replies: SmtpReply[] = [];
    try {
      d.write(ENVELOPE);
      for (let i = 0; i < 3; i++) replies.push(await d.read());
      // Each dot goes with the next transaction behind it, as RFC 2920 lets a client pipeline them after the 354.
      for (let n = 1; n <= 12 && !replies.some((r) => r.code === 421); n++) {
        d.write(`${message('refuse-550')}${ENVELOPE}`);
        replies.push(...await repliesUntilClosed(d, 4));
      }
    } finally { await d.quit(); }
    const dots = replies.filter((r) => r.code === 550);
    assert.equal(dots.length, 10);
    assert.equal(`${replies[replies.length - 1].code} ${replies[replies.length - 1].text}`, FAREWELL);
    const cut = await waitFor('the disconnect line', () => gw.logs.find((l) => l.msg === 'too many errors: disconnecting' && l.client === ip));
    assert.equal(cut.error_count, 10);
  });
});

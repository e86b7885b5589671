// The refusals smtp-server gives by itself (503 out of sequence, 501 bad syntax, 538 AUTH before TLS, 500 and 502
// unknown or not implemented) count toward limits.max_errors as the gateway's own do: a client that floods them gets
// the refusal that reaches the limit as it is, then 421 4.7.0 at once, and is disconnected.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { repliesUntilClosed } from './replies-until-closed.ts';
import { isOwnCountedRefusal } from '../../../core/smtp/limits-own-refusals.ts';

describe('limits.max_errors and the refusals smtp-server gives itself', function () {
  this.timeout(60_000);
  let gw: TestGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });

  /** A session of client `ip` (named by XCLIENT) that pipelines `lines` after EHLO; every reply until it is closed. */
  async function flood(ip: string, lines: string): Promise<SmtpReply[]> {
    const d = await SmtpDialog.connect(gw!.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: ip } })).code, 250);
      d.write(lines);
      return await repliesUntilClosed(d, 10_000);
    } finally { await d.quit(); }
  }

  const closedLine = (ip: string) => waitFor(`the connection closed line of ${ip}`, () => gw!.logs.find((l) => l.msg === 'connection closed' && l.client === ip));

  it('disconnects 5,000 pipelined RCPTs without MAIL after the tenth 503', async () => {
    gw = await startGateway();
    const replies = await flood('203.0.113.70', 'RCPT TO:<user@example.com>\r\n'.repeat(5000));
    assert.deepEqual(replies.slice(0, 10).map((r) => r.code), Array(10).fill(503));
    assert.match(replies[0].text, /need MAIL command/);
    assert.equal(replies.length, 11, 'nothing answered after the 421');
    assert.equal(replies[10].code, 421);
    assert.match(replies[10].text, /^4\.7\.0 Too many errors/);
    const drops = gw.logs.filter((l) => l.msg === 'too many errors: disconnecting' && l.client === '203.0.113.70');
    assert.equal(drops.length, 1);
    assert.equal(drops[0].error_count, 10);
    assert.equal((await closedLine('203.0.113.70')).error_count, 10);
  });

  it('counts a second MAIL (503), MAIL FROM:bad (501) and AUTH before TLS (538), each', async () => {
    gw = await startGateway({ config: { limits: { max_errors: 3 } } });
    const nested = await flood('203.0.113.71', 'MAIL FROM:<a@sender.test>\r\n'.repeat(20));
    assert.deepEqual(nested.map((r) => r.code), [250, 503, 503, 503, 421]);
    assert.match(nested[1].text, /nested MAIL command/);

    const syntax = await flood('203.0.113.72', 'MAIL FROM:bad\r\n'.repeat(20));
    assert.deepEqual(syntax.map((r) => r.code), [501, 501, 501, 421]);

    const auth = await flood('203.0.113.73', 'AUTH PLAIN AHVzZXIAcGFzcw==\r\n'.repeat(20));
    assert.deepEqual(auth.map((r) => r.code), [538, 538, 538, 421]);
    assert.match(auth[3].text, /^4\.7\.0 Too many errors/);
    for (const ip of ['203.0.113.71', '203.0.113.72', '203.0.113.73']) assert.equal((await closedLine(ip)).error_count, 3, ip);
  });

  it('counts an unknown verb (500) and one not implemented (502) toward max_errors, and blocks with error_block', async () => {
    gw = await startGateway({ config: { limits: { max_errors: 3, error_block: '1m' } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.74' } })).code, 250);
      assert.equal((await d.cmd('EXPN staff')).code, 502);
      assert.equal((await d.cmd('FROB')).code, 500);
      assert.equal((await d.cmd('EXPN staff')).code, 502, 'the third refusal goes out as it is');
      const r = await d.read();
      assert.equal(r.code, 421);
      assert.match(r.text, /^4\.7\.0 Too many errors/);
      await assert.rejects(d.read(3_000), /connection closed/);
    } finally { await d.quit(); }
    const again = await SmtpDialog.connect(gw.port);
    try {
      // Named again by XCLIENT, the client is refused at its greeting while its block lasts.
      const r = await again.hello({ xclient: { addr: '203.0.113.74' } });
      assert.equal(r.code, 421);
    } finally { await again.quit(); }
  });

  it('leaves the client that makes no mistake alone: commands answered 2xx and 3xx do not count', async () => {
    gw = await startGateway({ config: { limits: { max_errors: 1 } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.75' } })).code, 250);
      for (let i = 0; i < 3; i++) {
        assert.equal((await d.cmd('MAIL FROM:<a@sender.test>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
        assert.equal((await d.cmd('RSET')).code, 250);
      }
      assert.equal((await d.cmd('NOOP')).code, 250);
    } finally { await d.quit(); }
    assert.equal((await closedLine('203.0.113.75')).error_count, 0);
  });
});

describe('which replies are smtp-server\'s own counted refusals', () => {
  it('takes its bare texts at 4xx and 5xx, never a reply the gateway decided (enhanced code first) nor its own trouble', () => {
    assert.equal(isOwnCountedRefusal(503, 'Error: need MAIL command', '5.5.1'), true);
    assert.equal(isOwnCountedRefusal(501, 'Error: Bad hostname syntax', ''), true, 'sent without an enhanced code');
    assert.equal(isOwnCountedRefusal(538, 'Error: Must issue a STARTTLS command first', '5.7.0'), true);
    assert.equal(isOwnCountedRefusal(550, '5.7.1 Relay access denied', ''), false, 'decided (and counted) by the gateway');
    assert.equal(isOwnCountedRefusal(554, ['5.7.1 first', '5.7.1 second'], ''), false);
    assert.equal(isOwnCountedRefusal(451, 'Error: internal server error', '4.3.0'), false, 'the gateway\'s own trouble');
    assert.equal(isOwnCountedRefusal(421, 'Error: too many unrecognized commands', '4.4.2'), false, 'closes anyway');
    assert.equal(isOwnCountedRefusal(250, 'Accepted', '2.0.0'), false);
  });
});

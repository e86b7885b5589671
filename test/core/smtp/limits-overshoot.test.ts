// limits.max_recipient_overshoot: recipients past limits.max_recipients get 452 4.5.3, which does not count toward
// limits.max_errors up to the overshoot limit (1000, Postfix's smtpd_recipient_overshoot_limit) in a session, and
// each one past it counts; every such RCPT counts toward limits.recipient_rate; and a refusal repeated word for word
// is logged three times, the rest counted on the session's closing line.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { repliesUntilClosed } from './replies-until-closed.ts';

/** How many of `replies` in a row from `from` have `code`. */
function runOf(replies: SmtpReply[], code: number, from: number): number {
  let n = 0;
  while (replies[from + n]?.code === code) n++;
  return n;
}

const rcptLines = (n: number, start = 0) => Array.from({ length: n }, (_x, i) => `RCPT TO:<flood${start + i}@example.com>\r\n`).join('');

describe('limits.max_recipient_overshoot', function () {
  this.timeout(60_000);
  let gw: TestGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });
  const counter = (name: string) => gw!.gateway.runtime.metrics.counters.get(name) ?? 0;

  it('disconnects MAIL and 5,000 pipelined RCPTs after 1,000 free 452s and 10 counted ones, with 3 log lines for them', async () => {
    gw = await startGateway();
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.60' } })).code, 250);
      const refusedBefore = counter('recipients_refused');
      d.write(`MAIL FROM:<flood@sender.test>\r\n${rcptLines(5000)}`);
      const replies = await repliesUntilClosed(d, 6000);
      assert.equal(replies[0].code, 250, 'MAIL');
      assert.equal(runOf(replies, 250, 1), 100, 'limits.max_recipients (100) recipients taken');
      // 1,000 free, then 10 counted ones, and the RCPT after the 10th counted refusal is answered 421.
      assert.equal(runOf(replies, 452, 101), 1010);
      assert.match(replies[101].text, /^4\.5\.3 Too many recipients/);
      assert.equal(replies.length, 1 + 100 + 1010 + 1, 'nothing answered after the 421');
      const last = replies.at(-1)!;
      assert.equal(last.code, 421);
      assert.match(last.text, /^4\.7\.0 Too many errors/);
      assert.equal(counter('recipients_refused'), refusedBefore + 1010, 'every refusal is counted in the metrics');

      const drop = gw.logs.find((l) => l.msg === 'too many errors: disconnecting');
      assert.equal(drop?.error_count, 10);
      const cid = drop?.cid;
      const refusedLines = gw.logs.filter((l) => l.msg === 'recipient refused' && l.cid === cid);
      assert.equal(refusedLines.length, 3, 'the identical refusals are logged three times');
      assert.equal(refusedLines[2].repeats_not_logged, true);
      assert.equal(refusedLines[0].reply, '452 4.5.3 Too many recipients');
      const closed = await waitFor('the connection closed line', () => gw!.logs.find((l) => l.msg === 'connection closed' && l.cid === cid));
      assert.equal(closed.error_count, 10);
      assert.deepEqual(closed.refusals_not_logged, [{ msg: 'recipient refused', reply: '452 4.5.3 Too many recipients', count: 1007 }]);
    } finally { await d.quit(); }
  });

  it('keeps the count for the whole session, as Postfix does, across transactions', async () => {
    gw = await startGateway({ config: { limits: { max_recipients: 2, max_recipient_overshoot: 3, max_errors: 2 } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.61' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<list@sender.test>')).code, 250);
      const first = [];
      for (let i = 0; i < 5; i++) first.push((await d.cmd(`RCPT TO:<a${i}@example.com>`)).code);
      assert.deepEqual(first, [250, 250, 452, 452, 452], 'three overshoots, none counted');
      assert.equal((await d.data(testMessage())).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<list@sender.test>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<a2@example.com>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<a3@example.com>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<a4@example.com>')).code, 452, 'the fourth overshoot counts: error 1 of 2');
      assert.equal((await d.cmd('RCPT TO:<a5@example.com>')).code, 452, 'error 2 of 2, answered as it is');
      const r = await d.cmd('RCPT TO:<a6@example.com>');
      assert.equal(r.code, 421);
      assert.match(r.text, /^4\.7\.0 Too many errors/);
      await assert.rejects(d.read(3_000), /connection closed/);
    } finally { await d.quit(); }
  });

  it('counts every RCPT toward limits.recipient_rate, those refused past max_recipients too', async () => {
    gw = await startGateway({ config: { limits: { max_recipients: 2, recipient_rate: 5 } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.62' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<list@sender.test>')).code, 250);
      const codes = [];
      for (let i = 0; i < 6; i++) codes.push((await d.cmd(`RCPT TO:<r${i}@example.com>`)).code);
      assert.deepEqual(codes, [250, 250, 452, 452, 452, 450]);
      const line = gw.logs.find((l) => l.msg === 'recipient refused' && l.limit === 'limits.recipient_rate');
      assert.deepEqual(line?.to, ['r5@example.com']);
      assert.match(String(line?.reply), /^450 4\.7\.1 Recipient rate limit exceeded/);
    } finally { await d.quit(); }
  });

  it('logs refusals that differ (each naming its recipient) in full', async () => {
    gw = await startGateway({ config: { limits: { max_errors: 6 } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.63' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<x@sender.test>')).code, 250);
      for (let i = 0; i < 5; i++) assert.equal((await d.cmd(`RCPT TO:<u${i}@elsewhere.test>`)).code, 554);
      await d.quit();
      const lines = gw.logs.filter((l) => l.msg === 'recipient refused' && l.client === '203.0.113.63');
      assert.equal(lines.length, 5);
      assert.equal(lines.some((l) => l.repeats_not_logged), false);
      const closed = await waitFor('the connection closed line', () => gw!.logs.find((l) => l.msg === 'connection closed' && l.client === '203.0.113.63'));
      assert.equal(closed.refusals_not_logged, undefined);
    } finally { await d.quit(); }
  });
});

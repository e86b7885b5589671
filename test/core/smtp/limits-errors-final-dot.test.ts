// A message refused after its final dot counts toward limits.max_errors as a refused command does, as Postfix counts a
// DATA that failed (smtpd_hard_error_limit), but only a 5xx: a 4xx after the dot is a check that could not be made or a policy's "later".
// The refusal that reaches the limit is followed at once by `421 4.7.0`, and transactions the client pipelined after
// that final dot are never run.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { repliesUntilClosed } from './replies-until-closed.ts';

const REFUSE_MESSAGE = path.resolve(import.meta.dirname, 'refuse-message-plugin.ts');
const FAREWELL = '4.7.0 Too many errors, closing connection';
const MAX_MESSAGE_SIZE = 4096;
const ENVELOPE = ['MAIL FROM:<bulk@sender.test>', 'RCPT TO:<user@example.com>', 'DATA'];

/** A message with `subject` as the bytes after the 354, its final dot included (the refuse-message plugin reads the Subject). */
function message(subject: string, body = 'Hello.\r\n'): string {
  return `${testMessage({ subject, body })}.\r\n`;
}

/** One over limits.max_message_size: the gateway's own 552 5.3.4 after the final dot. */
const oversized = () => message('big', `${'x'.repeat(70)}\r\n`.repeat(Math.ceil(MAX_MESSAGE_SIZE / 72) + 1));

const codes = (replies: SmtpReply[]) => replies.map((r) => r.code);

describe('limits.max_errors counts refusals after the final dot', function () {
  this.timeout(60_000);
  let gw: TestGateway;

  before(async () => {
    gw = await startGateway({ config: {
      limits: { max_errors: 3, max_message_size: MAX_MESSAGE_SIZE },
      plugins: [{ name: 'refuse-message', module: REFUSE_MESSAGE }],
    } });
  });
  after(async () => { await gw?.stop(); });

  /** A session of client `ip` (named by XCLIENT), past its EHLO. */
  async function session(ip: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello({ xclient: { addr: ip } })).code, 250);
    return d;
  }

  /** Sends one whole transaction, waiting for each reply; returns the reply to the final dot. */
  async function transaction(d: SmtpDialog, data: string): Promise<SmtpReply> {
    for (const [line, code] of [[ENVELOPE[0], 250], [ENVELOPE[1], 250], [ENVELOPE[2], 354]] as const) {
      const r = await d.cmd(line);
      assert.equal(r.code, code, `${line}: ${r.code} ${r.text}`);
    }
    d.write(data);
    return d.read();
  }

  const summaries = (ip: string) => gw.logs.filter((l) => l.msg === 'message' && l.client === ip);
  const closedLine = (ip: string) => waitFor(`the connection closed line of ${ip}`, () => gw.logs.find((l) => l.msg === 'connection closed' && l.client === ip));

  it('cuts off a client that pipelines transactions each refused at the final dot, running none after the limit', async () => {
    const ip = '203.0.113.221';
    const d = await session(ip);
    try {
      // RFC 2920: MAIL, RCPT and DATA go as one group; the message, its dot and the next group go after the 354.
      d.write(`${ENVELOPE.join('\r\n')}\r\n`);
      const replies: SmtpReply[] = [];
      for (let i = 0; i < 3; i++) replies.push(await d.read());
      for (let n = 1; n <= 5 && !d.closed; n++) {
        d.write(`${message('refuse-550')}${ENVELOPE.join('\r\n')}\r\n`);
        const got = await repliesUntilClosedOr(d, 4);
        replies.push(...got);
        if (got.some((r) => r.code === 421)) break;
      }
      assert.deepEqual(codes(replies), [250, 250, 354, 550, 250, 250, 354, 550, 250, 250, 354, 550, 421]);
      assert.equal(replies[11].text, '5.7.1 Message content rejected');
      assert.equal(replies[12].text, FAREWELL);
      // Nothing more comes: the gateway closes without answering the group pipelined behind the third dot.
      await assert.rejects(d.read(), /connection closed/);
      // The fourth transaction, pipelined behind the third dot, was never begun: three messages judged, three errors.
      assert.deepEqual(summaries(ip).map((l) => l.verdict), ['reject', 'reject', 'reject']);
      assert.deepEqual(gw.logs.filter((l) => l.msg === 'too many errors: disconnecting' && l.client === ip).map((l) => l.error_count), [3]);
      assert.equal((await closedLine(ip)).error_count, 3);
    } finally { await d.quit(); }
  });

  it('counts the gateway\'s own 552 as it counts a refused RCPT, and not a 4xx after the dot (a check that could not be made)', async () => {
    const ip = '203.0.113.222';
    const d = await session(ip);
    try {
      assert.equal((await d.cmd(ENVELOPE[0])).code, 250);
      assert.equal((await d.cmd('RCPT TO:<someone@elsewhere.test>')).code, 554, 'relaying denied: the first error');
      assert.equal((await d.cmd(ENVELOPE[1])).code, 250);
      assert.equal((await d.cmd('DATA')).code, 354);
      d.write(message('defer-451'));
      const deferred = await d.read();
      assert.equal(`${deferred.code} ${deferred.text}`, '451 4.7.1 Try again later');
      const big = await transaction(d, oversized());
      assert.equal(big.code, 552);
      assert.match(big.text, /^5\.3\.4 Message size exceeds/);
      // Two errors so far: the 451 did not count, so one more refusal reaches the limit of three.
      assert.equal((await transaction(d, message('refuse-550'))).code, 550);
      const rest = await repliesUntilClosed(d, 5);
      assert.deepEqual(rest.map((r) => `${r.code} ${r.text}`), [`421 ${FAREWELL}`]);
      assert.equal((await closedLine(ip)).error_count, 3);
    } finally { await d.quit(); }
  });

  it('does not count a 4.3.x reply for the gateway\'s own trouble, nor a message taken', async () => {
    const ip = '203.0.113.223';
    const d = await session(ip);
    try {
      for (let i = 0; i < 4; i++) assert.equal((await transaction(d, message('trouble-451'))).code, 451);
      assert.equal((await transaction(d, message('refuse-550'))).code, 550);
      assert.equal((await transaction(d, message('refuse-550'))).code, 550);
      const taken = await transaction(d, message('fine'));
      assert.equal(taken.code, 250, taken.text);
      // Two errors of three: the session goes on.
      assert.equal((await d.cmd('NOOP')).code, 250);
      assert.equal(d.closed, false);
    } finally { await d.quit(); }
    assert.equal((await closedLine(ip)).error_count, 2);
    assert.equal(gw.logs.some((l) => l.msg === 'too many errors: disconnecting' && l.client === ip), false);
  });
});

/** Up to `n` replies, fewer when the gateway closes first. */
async function repliesUntilClosedOr(d: SmtpDialog, n: number): Promise<SmtpReply[]> {
  const out: SmtpReply[] = [];
  while (out.length < n) {
    try { out.push(await d.read()); } catch (e) {
      if (/connection closed/.test(String(e))) break;
      throw e;
    }
    if (out[out.length - 1].code === 421) break;
  }
  return out;
}

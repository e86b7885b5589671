// Hostile input against an ordinary admin regex, many messages at once: each message's regexes get regex_timeout
// from its own call, waiting for a worker included, so a plain message is not queued behind the burst.
import assert from 'node:assert/strict';
import { startRelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

async function send(port: number, subject: string, body: string): Promise<{ reply: SmtpReply; ms: number }> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    await d.cmd('MAIL FROM:<a@elsewhere.example>');
    await d.cmd('RCPT TO:<ann@example.com>');
    const started = Date.now();
    const reply = await d.data(testMessage({ subject, body }));
    return { reply, ms: Date.now() - started };
  } finally { await d.quit(); }
}

describe('plugins/rules under a burst of slow-regex messages', function () {
  this.timeout(120_000);
  it('answers a plain message within a few deadlines, not after the whole burst', async () => {
    const gw = await startRelayingGateway({ config: { limits: { max_connections_per_ip: 100 }, plugins: [{ name: 'rules', regex_timeout: '500ms', rules: [
      // The README's kind of pattern: linear on most text, quadratic on a long run of spaces without a y.
      { name: 'spaces', when: { body: '\\s*y' }, actions: [{ score: 1 }] },
    ] }] } });
    try {
      const hostile = ' '.repeat(60_000) + '\r\n';
      const burst = Array.from({ length: 24 }, (_, i) => send(gw.port, `hostile-${i}`, hostile));
      await new Promise((r) => setTimeout(r, 300));
      const plain = await send(gw.port, 'plain', 'why not\r\n');
      const hostileReplies = await Promise.all(burst);
      assert.equal(plain.reply.code, 250);
      // One worker and a deadline per job held it about 0.5 s per hostile message ahead of it: 12 s for 24.
      assert.ok(plain.ms < 5_000, `the plain message waited ${plain.ms} ms`);
      assert.deepEqual(hostileReplies.map((h) => h.reply.code), hostileReplies.map(() => 250), 'a rule that cannot finish is skipped, the message still accepted');
      // Its rule ran, or (its time gone waiting for a worker) was skipped and said so: never a message held for all.
      const summaryOf = (reply: SmtpReply) => gw.logs.find((l) => l.msg === 'message' && typeof l.qid === 'string' && reply.text.includes(l.qid));
      const plainLine = summaryOf(plain.reply);
      assert.ok(plainLine, 'the plain message has a summary line');
      assert.ok((plainLine.symbols as string[]).some((x) => x === 'RULE_SPACES(1)' || x === 'RULES_TIMEOUT(0)'), String(plainLine.symbols));
      // Once the burst is over, the rule judges again.
      const after = await send(gw.port, 'after', 'why not\r\n');
      const afterLine = summaryOf(after.reply);
      assert.ok((afterLine?.symbols as string[]).includes('RULE_SPACES(1)'), String(afterLine?.symbols));
    } finally { await gw.stop(); }
  });
});

// Hostile input against an ordinary admin regex, many messages at once: each message's regexes get regex_timeout of
// running time, and a message waits for a free thread at most max_wait, so a plain one is not held behind the burst.
import assert from 'node:assert/strict';
import { startRelayingGateway } from '../../helpers/gateway.ts';
import { timedSend as send } from './timed-send.ts';
import type { SmtpReply } from '../../helpers/smtp-dialog.ts';

describe('plugins/rules under a burst of slow-regex messages', function () {
  this.timeout(120_000);
  it('answers a plain message within a few deadlines, not after the whole burst, and lets nothing past a reject rule', async () => {
    const gw = await startRelayingGateway({ config: { limits: { max_connections_per_ip: 100 }, plugins: [{ name: 'rules', regex_timeout: '500ms', max_wait: '2s', rules: [
      // The README's kind of pattern: linear on most text, quadratic on a long run of spaces without a y.
      { name: 'spaces', when: { body: '\\s*y' }, actions: [{ score: 1 }] },
      { name: 'forbidden', when: { subject: '^forbidden' }, actions: [{ reject: 'Not here' }] },
    ] }] } });
    try {
      const hostile = ' '.repeat(60_000) + '\r\n';
      const burst = Array.from({ length: 24 }, (_, i) => send(gw.port, `hostile-${i}`, hostile));
      await new Promise((r) => setTimeout(r, 300));
      const [plain, forbidden] = await Promise.all([send(gw.port, 'plain', 'why not\r\n'), send(gw.port, 'forbidden fruit', 'why not\r\n')]);
      const hostileReplies = await Promise.all(burst);
      // One worker and a deadline per job held it about 0.5 s per hostile message ahead of it: 12 s for 24. Now at most
      // max_wait, then its own regex_timeout.
      assert.ok(plain.ms < 3_500, `the plain message waited ${plain.ms} ms`);
      // Judged (250 with its rule's score), or deferred when no thread was free within max_wait; never let past the rules.
      assert.ok([250, 451].includes(plain.reply.code), `${plain.reply.code} ${plain.reply.text}`);
      assert.ok([550, 451].includes(forbidden.reply.code), `a message for the reject rule got ${forbidden.reply.code} ${forbidden.reply.text}`);
      assert.ok(hostileReplies.every((h) => h.reply.code === 451), 'a message whose rules could not finish is deferred');
      const summaryOf = (reply: SmtpReply) => gw.logs.find((l) => l.msg === 'message' && typeof l.qid === 'string' && reply.text.includes(l.qid));
      if (plain.reply.code === 250) assert.ok((summaryOf(plain.reply)?.symbols as string[]).includes('RULE_SPACES(1)'));
      // Once the burst is over, the rule judges again.
      const after = await send(gw.port, 'after', 'why not\r\n');
      const afterLine = summaryOf(after.reply);
      assert.ok((afterLine?.symbols as string[]).includes('RULE_SPACES(1)'), String(afterLine?.symbols));
    } finally { await gw.stop(); }
  });
});

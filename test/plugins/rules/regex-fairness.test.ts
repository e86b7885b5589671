// A burst of crafted messages larger than the regex threads clear within max_wait must not get ordinary mail deferred:
// the crafted ones get their own deadline outcome (451), the plain ones sent behind them 250 and reach the smarthost.
import assert from 'node:assert/strict';
import { startRelayingGateway } from '../../helpers/gateway.ts';
import { timedSend as send } from './timed-send.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('plugins/rules: a burst of crafted messages and the plain mail behind it', function () {
  this.timeout(60_000);

  it('accepts and relays plain messages sent during a burst of 40 catastrophic-backtracking messages, at the defaults', async () => {
    // Defaults (regex_timeout 500ms, max_wait 5s): 40 messages of a full deadline each are 10 s of two threads' time.
    const gw = await startRelayingGateway({ config: { limits: { max_connections_per_ip: 100 }, plugins: [{ name: 'rules', rules: [
      { name: 'nested', when: { body: '(a+)+$' }, actions: [{ score: 1 }] },
      { name: 'forbidden', when: { subject: '^forbidden' }, actions: [{ reject: 'Not here' }] },
    ] }] } });
    try {
      const started = Date.now();
      // Each text differs, as a sender's would: nothing may be answered from having seen the same text before.
      // Two hostile senders, 20 messages each, on connections of their own addresses; the plain mail from another.
      const burst = Array.from({ length: 40 }, (_, i) => send(gw.port, `crafted-${i}`, 'a'.repeat(36 + (i % 9)) + `!${i}\r\n`, `127.0.0.${2 + (i % 2)}`));
      await sleep(300);
      const plain: Array<Promise<{ reply: { code: number; text: string }; ms: number }>> = [];
      const forbidden: typeof plain = [];
      // Plain mail keeps arriving while the burst is worked off: at 0.3 s, 1.3 s, 2.3 s and 3.3 s.
      for (let round = 0; round < 4; round++) {
        for (let j = 0; j < 2; j++) plain.push(send(gw.port, `plain-${round}-${j}`, `hello ${round}-${j}\r\n`));
        forbidden.push(send(gw.port, `forbidden-${round}`, 'hello\r\n'));
        await sleep(1_000);
      }
      const plainReplies = await Promise.all(plain);
      const forbiddenReplies = await Promise.all(forbidden);
      const crafted = await Promise.all(burst);
      console.log(`      plain: ${plainReplies.map((p) => `${p.reply.code}/${p.ms}ms`).join(' ')}`);
      console.log(`      crafted: ${crafted.filter((c) => c.reply.code === 451).length} of 40 got 451, the last after ${Date.now() - started} ms`);
      for (const p of plainReplies) assert.equal(p.reply.code, 250, `${p.reply.code} ${p.reply.text} after ${p.ms} ms`);
      // Ordinary mail is judged by every rule, the reject rule included, not let past it.
      for (const f of forbiddenReplies) assert.equal(f.reply.code, 550, `${f.reply.code} ${f.reply.text}`);
      assert.ok(crafted.every((c) => c.reply.code === 451), `crafted: ${crafted.map((c) => c.reply.code).join(' ')}`);
      for (let round = 0; round < 4; round++) {
        for (let j = 0; j < 2; j++) assert.match(await gw.sink.waitForText(`Subject: plain-${round}-${j}`), /hello \d-\d/);
      }
      assert.ok(!gw.sink.messages.some((m) => /Subject: (crafted|forbidden)/.test(m.raw.toString('latin1'))), 'nothing deferred or refused was relayed');
    } finally { await gw.stop(); }
  });
});

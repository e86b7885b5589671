// A few hostile messages must not get ordinary mail deferred: each message's regexes have regex_timeout of their own
// running time, and waiting for a free regex thread is bounded apart from it (max_wait).
import assert from 'node:assert/strict';
import { startRelayingGateway } from '../../helpers/gateway.ts';
import { timedSend as send } from './timed-send.ts';

const hostileRule = { name: 'nested', when: { body: '(a+)+$' }, actions: [{ score: 1 }] };

describe('plugins/rules: waiting for a regex thread', function () {
  this.timeout(120_000);

  it('judges a plain message sent behind 6 catastrophic-backtracking messages (250, not 451 RULES_TIMEOUT)', async () => {
    const gw = await startRelayingGateway({ config: { limits: { max_connections_per_ip: 100 }, plugins: [{ name: 'rules', regex_timeout: '500ms', rules: [hostileRule] }] } });
    try {
      const hostile = 'a'.repeat(40) + '!\r\n';
      const burst = Array.from({ length: 6 }, (_, i) => send(gw.port, `hostile-${i}`, hostile));
      await new Promise((r) => setTimeout(r, 150));
      const plain = await send(gw.port, 'plain', 'hello there\r\n');
      const hostileReplies = await Promise.all(burst);
      console.log(`      plain: ${plain.reply.code} after ${plain.ms} ms; hostile: ${hostileReplies.map((h) => `${h.reply.code}/${h.ms}ms`).join(' ')}`);
      assert.equal(plain.reply.code, 250, `${plain.reply.code} ${plain.reply.text}`);
      assert.ok(hostileReplies.every((h) => h.reply.code === 451), 'each hostile message is deferred');
      assert.ok(gw.logs.some((l) => l.msg === 'rule skipped: its regexes did not finish in time' && l.rule === 'nested'));
    } finally { await gw.stop(); }
  });

  it('defers a message that could not get a regex thread within max_wait, saying so', async () => {
    const gw = await startRelayingGateway({ config: { limits: { max_connections_per_ip: 100 }, plugins: [{ name: 'rules', regex_timeout: '1s', max_wait: '200ms', rules: [hostileRule] }] } });
    try {
      const hostile = 'a'.repeat(40) + '!\r\n';
      const burst = Array.from({ length: 2 }, (_, i) => send(gw.port, `hostile-${i}`, hostile));
      await new Promise((r) => setTimeout(r, 150));
      const plain = await send(gw.port, 'plain', 'hello there\r\n');
      await Promise.all(burst);
      assert.equal(plain.reply.code, 451, `${plain.reply.code} ${plain.reply.text}`);
      assert.ok(plain.ms < 900, `it waited ${plain.ms} ms, beyond max_wait`);
      assert.ok(gw.logs.some((l) => l.msg === 'rule skipped: no regex thread was free within max_wait' && l.rule === 'nested'), 'the waiting message says why');
    } finally { await gw.stop(); }
  });
});

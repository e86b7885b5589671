// A next hop that refuses MAIL FROM asking us to slow down (Gmail's `421 4.7.28 … rate limited`, Postfix's
// smtpd_client_message_rate_limit `450 4.7.1`) for every connection: the pool opens fewer connections to it, and once
// a session on the one connection left is refused too, the queue holds the destination back as a down one, its mail
// waiting behind a probe, instead of a connection per message refused each time (before: 2,088 connections, 2,067
// refusals, 460 delivered in 12 minutes). Real next hops on bare sockets (scripted-hop.ts).
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { SmtpRelay } from '../../../core/relay/smtp-relay.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { LogFields, Logger } from '../../../core/log/types.ts';
import { sendMail } from '../queue/send.ts';
import { startScriptedHop, type ScriptedHop } from './scripted-hop.ts';

const RATE_LIMITED = '421 4.7.28 [127.0.0.1] Our system has detected an unusual rate of unsolicited mail; rate limited';
const COUNT = 30;

/** A logger that keeps every line, each level named. */
function recorder(): { log: Logger; lines: LogFields[] } {
  const lines: LogFields[] = [];
  const log = { child: () => log } as unknown as Logger;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) log[level] = (msg: string, fields: LogFields = {}) => { lines.push({ level, msg, ...fields }); };
  return { log, lines };
}

describe('relay: a destination that asks us to slow down', function () {
  this.timeout(60_000);
  let hop: ScriptedHop;
  let sink: Smarthost | undefined;
  let gw: TestGateway | undefined;
  let relay: SmtpRelay | undefined;
  beforeEach(async () => { hop = await startScriptedHop(); });
  afterEach(async () => {
    await gw?.stop(); gw = undefined;
    await relay?.close(); relay = undefined;
    await sink?.stop(); sink = undefined;
    await hop.stop();
  });

  const linesOf = (g: TestGateway, qid: string | undefined, msg: string) => g.logs.filter((l) => l.qid === qid && l.msg === msg);

  it('a 421 4.7.28 to MAIL FROM on every connection: fewer connections, then the destination held behind a probe', async () => {
    hop.mailReply = () => RATE_LIMITED;
    sink = await startSmarthost();
    const g = gw = await startGateway({
      config: {
        domains: ['example.com', 'rl.test'],
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        routes: { 'rl.test': { via: `smtp://127.0.0.1:${hop.port}`, connections: 4 } },
        queue: { retry_schedule: ['2s'], lifetime: '1h' },
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < COUNT; i++) ids.push((await sendMail(g.port, { from: 'a@client.example', to: [`r${i}@rl.test`] })).queueId!);
    await waitUntil('every message deferred', () => ids.every((id) => linesOf(g, id, 'deferred').length >= 1));

    // 4 connections allowed: three refusals bring it down to 1, the refusal on that one holds the destination.
    const lowered = g.logs.filter((l) => l.msg === 'next hop asks to slow down: fewer connections to it for now').map((l) => l.connections);
    assert.deepEqual(lowered, [3, 2, 1]);
    const held = g.logs.filter((l) => String(l.msg).startsWith('destination asks to slow down'));
    assert.equal(held.length, 1);
    assert.equal(held[0].reply, `${RATE_LIMITED} (in reply to MAIL FROM command)`);
    const refused = hop.sessions.length;
    console.log(`      ${refused} connections for ${COUNT} messages before the destination was held`);
    assert.ok(refused <= 6, `${refused} connections for ${COUNT} messages`);
    // The rest wait behind the probe with the reason, untried.
    const waiting = ids.filter((id) => linesOf(g, id, 'deferred')[0].attempt === 0);
    assert.ok(waiting.length >= COUNT - 6, `${waiting.length} held back`);
    for (const id of waiting) assert.equal(linesOf(g, id, 'deferred')[0].reply, `delivery temporarily suspended: ${RATE_LIMITED} (in reply to MAIL FROM command)`);

    // The limit lifts: the probe, a retry step on, gets through, and the rest follow it, each delivered once.
    hop.mailReply = undefined;
    await waitUntil(() => `all delivered (${hop.delivered().length})`, () => hop.delivered().length === COUNT, 20_000);
    const woke = g.logs.filter((l) => String(l.msg).startsWith('destination reachable again'));
    assert.equal(woke.length, 1);
    assert.ok(Number(woke[0].count) >= waiting.length - 1, `${woke[0].count} woken`);
    assert.deepEqual(hop.delivered().flat().sort(), ids.map((_, i) => `r${i}@rl.test`).sort());
  });

  it('a 450 4.7.1 to MAIL FROM lowers the pool one connection a refusal, and on the last one marks the result to hold', async () => {
    hop.mailReply = () => '450 4.7.1 Error: too much mail from 127.0.0.1';
    const r = recorder();
    relay = new SmtpRelay({ host: '127.0.0.1', port: hop.port, secure: false, starttls: 'off', tlsVerify: false, connections: 3, display: 'hop' }, 'gw.test', r.log);
    const entry = (i: number): QueueEntry => ({
      id: `0rl${i}`, mailFrom: 'a@client.example', recipients: [{ address: `b${i}@example.com`, status: 'pending' }], prepend: '', remove: [],
      receivedAt: Date.now(), size: 20, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
    });
    const send = (i: number) => relay!.send(entry(i), [`b${i}@example.com`], () => Readable.from([Buffer.from('Subject: x\r\n\r\nx\r\n')]));
    // Three at once, each on a session begun with three allowed: each refusal takes one away, none holds.
    const first = (await Promise.all([0, 1, 2].map(send))).flat();
    for (const res of first) {
      assert.equal(res.reply, '450 4.7.1 Error: too much mail from 127.0.0.1 (in reply to MAIL FROM command)');
      assert.equal(res.permanent, false);
      assert.equal(res.slowDown, undefined);
    }
    assert.deepEqual(r.lines.filter((l) => l.msg === 'next hop asks to slow down: fewer connections to it for now').map((l) => l.connections), [2, 1]);
    // One allowed now: refused again, the result says to hold the destination back.
    const [alone] = await send(3);
    assert.equal(alone.slowDown, true);
    assert.equal(alone.reply, '450 4.7.1 Error: too much mail from 127.0.0.1 (in reply to MAIL FROM command)');
    assert.equal(hop.sessions.length, 4);
    // Taken again: the delivery goes through on the one connection.
    hop.mailReply = undefined;
    const [ok] = await send(4);
    assert.equal(ok.ok, true);
    assert.deepEqual(hop.delivered(), [['b4@example.com']]);
  });
});

// After a next hop turned connections away at the greeting, the pool's limit climbs back by the deliveries that go
// through while it is all in use (Postfix's positive feedback of 1/concurrency), not by the clock: at a limit of N,
// N such deliveries make it N+1, up to the configured `connections`. No deliveries, or mail trickling in over fewer
// connections than the limit, leave it where it is; a limited hop asked for one more is turned away without a warning.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { SmtpPool } from '../../../core/relay/smtp-pool.ts';
import type { LogFields, Logger } from '../../../core/log/types.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { startGreetingLimitHop, type GreetingLimitHop } from './greeting-limit-hop.ts';

function recorder(): { log: Logger; lines: LogFields[] } {
  const lines: LogFields[] = [];
  const at = (level: string) => (msg: string, fields: LogFields = {}) => { lines.push({ level, msg, ...fields }); };
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return { log, lines };
}

const LOWERED = 'next hop turned a connection away while others to it work: fewer connections to it for now';

describe('relay pool: the limit climbs back by deliveries', function () {
  this.timeout(60_000);
  let hop: GreetingLimitHop;
  let pool: SmtpPool;
  let lines: LogFields[];
  /** Sends settled so far, delivered or failed. */
  let settled: number;

  const send = (i: number) => pool.with((c) => c.send('a@client.example', ['b@example.com'], Readable.from([Buffer.from(`Subject: ${i}\r\n\r\nhi\r\n`)]), 30))
    .finally(() => { settled++; });

  /** `count` sends at once to a pool of `max` against a hop taking 2: the limit comes down to 2, two messages wait at the dot. */
  async function lowered(max: number, count: number) {
    hop = await startGreetingLimitHop(2);
    const r = recorder();
    lines = r.lines;
    settled = 0;
    pool = new SmtpPool({ host: '127.0.0.1', port: hop.port, secure: false, starttls: 'off', tlsVerify: false, heloName: 'gw.test', log: r.log }, max);
    const sends = Array.from({ length: count }, (_, i) => send(i));
    // Kept from an unhandled rejection while a test is not yet awaiting them.
    for (const s of sends) s.catch(() => undefined);
    await waitUntil(() => `the limit down to 2 (${pool.limit}) and two messages at the dot (${hop.held()})`, () => pool.limit === 2 && hop.held() === 2);
    return sends;
  }

  afterEach(async () => { await pool?.close(); await hop?.stop(); });

  it('rises by one after as many deliveries as the limit, up to the configured connections', async () => {
    const sends = await lowered(4, 12);
    assert.equal(hop.refused, 2, 'the two connections beyond the hop\'s 2 were turned away at the greeting');
    hop.capacity = 10;
    const limits: number[] = [];
    for (let d = 1; d <= sends.length; d++) {
      await waitUntil(() => `a message at the dot for delivery ${d}`, () => hop.held() > 0);
      hop.acceptOldest();
      await waitUntil(() => `delivery ${d} to complete (${settled} settled)`, () => settled === d);
      limits.push(pool.limit);
    }
    // At 2, two deliveries make it 3; at 3, three more make it 4, the configured connections, where it stays.
    assert.deepEqual(limits, [2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4]);
    for (const t of await Promise.all(sends)) assert.equal(t.data?.code, 250);
    assert.equal(hop.peak, 4, 'the hop was asked for each new connection, and for no more than configured');
    const back = lines.filter((l) => l.msg === 'next hop takes all configured connections again');
    assert.equal(back.length, 1, 'said once when all configured connections worked at once again');
    assert.equal(back[0].connections, 4);
  });

  it('does not rise without deliveries, nor on deliveries that left part of the limit unused', async () => {
    const sends = await lowered(4, 3);
    hop.capacity = 10;
    // The two sessions the hop took end before their messages are answered, and so does the one the waiting send
    // then opened: three failed deliveries.
    hop.dropHeld();
    await waitUntil(() => `the waiting send's message at the dot (${hop.held()})`, () => hop.held() === 1);
    hop.dropHeld();
    const failed = await Promise.allSettled(sends);
    assert.deepEqual(failed.map((f) => f.status), ['rejected', 'rejected', 'rejected']);
    assert.equal(pool.limit, 2, 'no delivery, no rise');
    // One message at a time: each delivery used one of the two connections allowed.
    hop.holding = false;
    for (let i = 0; i < 6; i++) assert.equal((await send(100 + i)).data?.code, 250);
    assert.equal(pool.limit, 2, 'mail that trickles in over one connection says nothing of a third');
    // Three at a time: two go at once, the third waits, so the first two deliveries each find both connections busy.
    await Promise.all([send(200), send(201), send(202)]);
    assert.equal(pool.limit, 3, 'two deliveries over all of a limit of 2 make it 3');
  });

  it('asks a hop that still takes only 2 for a third now and then, and warns only of the first lowering', async () => {
    const sends = await lowered(4, 12);
    const warned = () => lines.filter((l) => l.msg === LOWERED);
    const initialWarnings = warned().length;
    const initialRefusals = hop.refused;
    for (let d = 1; d <= sends.length; d++) {
      await waitUntil(() => `a message at the dot for delivery ${d}`, () => hop.held() > 0);
      hop.acceptOldest();
      await waitUntil(() => `delivery ${d} to complete (${settled} settled)`, () => settled === d);
    }
    for (const t of await Promise.all(sends)) assert.equal(t.data?.code, 250);
    assert.ok(hop.refused > initialRefusals, `the pool asked again for a third connection (${hop.refused - initialRefusals} times)`);
    assert.equal(hop.peak, 2, 'the hop never held more than it takes');
    assert.equal(warned().length, initialWarnings, 'no warning for a refusal at a limit already warned of');
    assert.equal(warned().at(-1)?.connections, 2);
    const quiet = lines.filter((l) => l.level === 'debug' && l.msg === 'next hop still takes no more connections than before');
    assert.equal(quiet.length, hop.refused - initialRefusals, 'each later refusal logged at debug');
  });
});

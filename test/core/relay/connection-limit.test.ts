// A next hop that takes only so many connections from us (Postfix's smtpd_client_connection_count_limit, answering
// the extra ones `421 4.7.0 too many connections` at the greeting): the pool comes down to the connections that
// work, sends the mail over them instead of deferring it, never holds the destination down while one works, and
// climbs back to its configured size by the deliveries that go through.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { sendMail } from '../queue/send.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';
import { SmtpPool } from '../../../core/relay/smtp-pool.ts';

/**
 * A real smtp-server taking at most `maxClients` sessions (the rest get 421 at the greeting). While held (from the
 * start, and after `hold()`), each message waits for its reply to the final dot, so the sessions that got in stay busy
 * and the relay must ask for more.
 */
async function limitedHop(maxClients: number) {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const hop = {
    port: 0, subjects: [] as string[], peakOpen: 0, sessions: new Set<string>(), server: undefined as unknown as SMTPServer,
    hold: () => { gate = new Promise<void>((r) => { open = r; }); },
    release: () => { gate = undefined; open?.(); },
    stop: () => new Promise<void>((r) => hop.server.close(() => r())),
  };
  hop.hold();
  hop.server = new SMTPServer({
    name: 'backend.test', logger: false, disableReverseLookup: true, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], maxClients,
    // By id: a session turned away at the greeting is closed without having been connected.
    onConnect(s, cb) { hop.sessions.add(s.id); hop.peakOpen = Math.max(hop.peakOpen, hop.sessions.size); cb(); },
    onClose(s) { hop.sessions.delete(s.id); },
    onData(stream, _s, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        if (gate) await gate;
        hop.subjects.push(/^Subject: (.*)$/m.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? '');
        cb();
      });
    },
  });
  hop.server.on('error', () => undefined);
  await new Promise<void>((r) => hop.server.listen(0, '127.0.0.1', () => r()));
  hop.port = (hop.server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return hop;
}

describe('relay: a next hop that limits our connections', function () {
  this.timeout(60_000);
  let hop: Awaited<ReturnType<typeof limitedHop>>;
  let gw: TestGateway | undefined;

  afterEach(async () => { await gw?.stop(); gw = undefined; hop.release(); await hop.stop(); });

  it('refused sessions go back to the pool\'s queue: every message delivered once, none deferred, the destination never down', async () => {
    hop = await limitedHop(3);
    // connections: 8 is the smarthost's default; spelled out, as the test is about going beyond what the hop takes.
    gw = await startGateway({ config: { smarthost: { url: `smtp://127.0.0.1:${hop.port}`, connections: 8, starttls: 'off', tls_verify: true }, queue: { retry_schedule: ['15m'], lifetime: '1h' } } });
    const count = 12;
    const sent = await Promise.all(Array.from({ length: count }, (_, i) => sendMail(gw!.port, { from: 'sender@client.example', to: ['user@example.com'], subject: `limit ${i}` })));
    assert.deepEqual(sent.map((s) => s.code), Array(count).fill(250));
    // The three sessions it took are busy: the pool asked for more, was turned away, and came down to three.
    const lowered = await waitFor('the pool to come down', () => gw!.logs.findLast((l) => String(l.msg).startsWith('next hop turned a connection away') && l.connections === 3));
    assert.match(String(lowered.reason), /greeting refused; server 127\.0\.0\.1 said: 421 .*Too many connected clients/);
    assert.equal(lowered.configured, 8);
    hop.release();
    await waitUntil(() => `${count} messages at the hop (got ${hop.subjects.length})`, () => hop.subjects.length >= count, 30_000);
    await waitUntil('every delivered line', () => gw!.logs.filter((l) => l.msg === 'delivered').length >= count);
    assert.deepEqual([...hop.subjects].sort(), Array.from({ length: count }, (_, i) => `limit ${i}`).sort(), 'each message once');
    assert.equal(gw.logs.filter((l) => l.msg === 'deferred').length, 0, 'nothing deferred to the next retry step');
    assert.ok(!gw.logs.some((l) => String(l.msg).startsWith('destination unreachable')), 'the destination was never held as down');
    assert.ok(hop.peakOpen <= 3, `the hop never held more than 3 sessions (${hop.peakOpen})`);
  });

  it('climbs back by deliveries once the hop stops refusing', async () => {
    hop = await limitedHop(2);
    const pool = new SmtpPool({ host: '127.0.0.1', port: hop.port, secure: false, starttls: 'off', tlsVerify: false, heloName: 'gw.test' }, 6);
    const send = (i: number) => pool.with((c) => c.send('a@client.example', ['b@example.com'], Readable.from([Buffer.from(`Subject: climb ${i}\r\n\r\nhi\r\n`)]), 30));
    try {
      const first = Promise.all(Array.from({ length: 6 }, (_, i) => send(i)));
      await waitUntil(() => `the pool to come down to 2 (${pool.limit})`, () => pool.limit === 2);
      hop.release();
      const results = await first;
      assert.ok(results.every((t) => t.data?.code === 250), 'every send delivered over the two sessions that work');
      assert.equal(hop.subjects.length, 6);
      // The hop takes more now: batches larger than the limit fill it, and their deliveries raise it back to 6 (at N,
      // N deliveries add one: pool-delivery-feedback counts them).
      (hop.server as unknown as { options: { maxClients: number } }).options.maxClients = 10;
      let batch = 0;
      await waitUntil(() => `the limit back at 6 (${pool.limit} after ${batch} batches)`, async () => {
        batch++;
        await Promise.all(Array.from({ length: 12 }, (_, i) => send(100 * batch + i)));
        return pool.limit === 6;
      });
      hop.hold();
      const again = Promise.all(Array.from({ length: 6 }, (_, i) => send(10 + i)));
      await waitUntil(() => `more than 2 sessions at once (${hop.sessions.size})`, () => hop.sessions.size > 2);
      hop.release();
      assert.ok((await again).every((t) => t.data?.code === 250));
    } finally {
      await pool.close();
    }
  });
});

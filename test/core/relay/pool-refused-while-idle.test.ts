// A send whose own connection the next hop turns away (421 at the greeting) while the pool's other connection finishes
// its message and goes idle: the send must go on over that idle connection. It used to wait in the pool's queue for a
// release that never came, since the idle one had found no waiter, and its timer closed it without waking anyone:
// the message held a queue slot with no retry until another send to that host or the stop.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { SmtpPool } from '../../../core/relay/smtp-pool.ts';
import type { LogFields, Logger } from '../../../core/log/types.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';

/**
 * A next hop on bare sockets. The first session's message waits for its final reply until a second connection has
 * come; that second connection is greeted with 421 only once the first session has answered, and a little later, so
 * that the pool has put the first connection back as idle before the refusal reaches it (as hang.ts reproduced it).
 */
async function startHop() {
  const sockets = new Set<net.Socket>();
  let secondArrived: () => void = () => undefined;
  const second = new Promise<void>((r) => { secondArrived = r; });
  let firstAnswered: () => void = () => undefined;
  const answered = new Promise<void>((r) => { firstAnswered = r; });
  const hop = { port: 0, connections: 0, messagesOnFirst: 0, refused: 0 };
  const serveFirst = (s: net.Socket) => {
    const say = (line: string) => s.write(`${line}\r\n`);
    let buf = '';
    let inData = false;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let eol = buf.indexOf('\r\n'); eol >= 0; eol = buf.indexOf('\r\n')) {
        const line = buf.slice(0, eol);
        buf = buf.slice(eol + 2);
        if (inData) {
          if (line !== '.') continue;
          inData = false;
          hop.messagesOnFirst++;
          void second.then(() => { say('250 2.0.0 queued'); firstAnswered(); });
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') say('250-hop.test\r\n250 8BITMIME');
        else if (verb === 'DATA') { inData = true; say('354 go ahead'); }
        else if (verb === 'QUIT') { say('221 2.0.0 bye'); s.end(); }
        else say('250 ok');
      }
    });
    say('220 hop.test ESMTP');
  };
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    const index = hop.connections++;
    if (index === 0) { serveFirst(s); return; }
    secondArrived();
    // The delay lets the first session's 250 be read and its connection released before this refusal is.
    void answered.then(() => setTimeout(() => { hop.refused++; s.end('421 4.7.0 too many connections\r\n'); }, 200));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  hop.port = (server.address() as net.AddressInfo).port;
  const stop = () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); });
  return { hop, stop };
}

describe('relay pool: a connection turned away while another went idle', function () {
  this.timeout(30_000);

  it('sends over the idle connection instead of waiting for good', async () => {
    const { hop, stop } = await startHop();
    const warnings: LogFields[] = [];
    const quiet = () => undefined;
    const log: Logger = { debug: quiet, info: quiet, warn: (msg, fields = {}) => { warnings.push({ msg, ...fields }); }, error: quiet, child: () => log };
    const pool = new SmtpPool({ host: '127.0.0.1', port: hop.port, secure: false, starttls: 'off', tlsVerify: false, heloName: 'gw.test', log }, 2);
    const send = (n: number) => pool.with((c) => c.send('a@client.example', ['b@example.com'], Readable.from([Buffer.from(`Subject: ${n}\r\n\r\nhi\r\n`)]), 30));
    const outcomes: string[] = [];
    const settle = (n: number) => (p: Promise<{ data?: { code: number } }>) => p.then((t) => outcomes.push(`${n}: ${t.data?.code}`), (e) => outcomes.push(`${n}: ${(e as Error).message}`));
    try {
      void settle(1)(send(1));
      await waitUntil('the first session to carry its message', () => hop.messagesOnFirst === 1);
      void settle(2)(send(2));
      // Before the fix the second send waited past the idle connection's close (2 s) and on until the pool closed.
      await waitFor(() => `the second send to finish (outcomes: ${outcomes.join('; ')})`, () => (outcomes.length === 2 ? true : undefined));
      assert.deepEqual(outcomes.sort(), ['1: 250', '2: 250']);
      assert.equal(hop.refused, 1, 'the second connection was turned away');
      assert.equal(hop.messagesOnFirst, 2, 'both messages went over the first connection');
      assert.equal(hop.connections, 2, 'no third connection was needed');
      assert.deepEqual(warnings.map((w) => w.connections), [1], 'the pool came down to the one connection the hop takes');
      // At a limit of 1, the one delivery made over its one connection is a step back up (pool-delivery-feedback).
      assert.equal(pool.limit, 2, 'and the second send, delivered over it, raised it again');
    } finally {
      await pool.close();
      await stop();
    }
  });
});

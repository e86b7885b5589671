// A connection the next hop hangs up on at once does not end the sends waiting for a slot while another connection
// of the pool is still being set up: that one may yet succeed (the queue would otherwise take a working destination
// for down). A next hop on bare sockets on loopback: its first connection is dropped before any greeting, its second
// is greeted only once a third arrives (or once the waiting send gave up, so the test ends either way).
import assert from 'node:assert/strict';
import net from 'node:net';
import { SmtpPool } from '../../../core/relay/smtp-pool.ts';

interface Hop { port: number; connections: number; greetHeld: () => void; stop(): Promise<void> }

async function startHop(): Promise<Hop> {
  const sockets = new Set<net.Socket>();
  let letGreet!: () => void;
  const held = new Promise<void>((r) => { letGreet = r; });
  const hop: Hop = { port: 0, connections: 0, greetHeld: () => letGreet(), stop: async () => {} };
  const serve = (socket: net.Socket) => {
    socket.write('220 hop ready\r\n');
    let buf = '';
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (let eol = buf.indexOf('\r\n'); eol >= 0; eol = buf.indexOf('\r\n')) {
        const line = buf.slice(0, eol).toUpperCase();
        buf = buf.slice(eol + 2);
        if (line.startsWith('QUIT')) { socket.end('221 bye\r\n'); return; }
        socket.write(line.startsWith('EHLO') ? '250 hop\r\n' : '250 ok\r\n');
      }
    });
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const index = hop.connections++;
    if (index === 0) { socket.destroy(); return; }
    if (index === 1) { void held.then(() => { if (!socket.destroyed) serve(socket); }); return; }
    letGreet();
    serve(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  hop.port = (server.address() as net.AddressInfo).port;
  hop.stop = () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); });
  return hop;
}

describe('relay: a refused connection while another is being opened', function () {
  this.timeout(30_000);
  let hop: Hop | undefined;
  let pool: SmtpPool | undefined;
  afterEach(async () => { await pool?.close(); pool = undefined; await hop?.stop(); hop = undefined; });

  it('a send waiting for a slot is not failed with it: it opens a connection of its own and gets through', async () => {
    const h = hop = await startHop();
    const p = pool = new SmtpPool({ host: '127.0.0.1', port: h.port, secure: false, starttls: 'off', tlsVerify: false, heloName: 'gw.test', timeout: 20_000 }, 2);
    const work = async () => 'sent';
    const first = p.with(work);
    const second = p.with(work);
    // Two slots: this one waits for a slot.
    const waiting = p.with(work);
    void waiting.catch(() => undefined).finally(() => h.greetHeld());
    const [a, b, c] = await Promise.allSettled([first, second, waiting]);
    const outcomes = [a, b, c].map((r) => r.status);
    assert.equal(outcomes.filter((s) => s === 'rejected').length, 1, `outcomes: ${JSON.stringify([a, b, c].map((r) => r.status === 'rejected' ? String(r.reason) : r.value))}`);
    assert.equal(c.status, 'fulfilled', c.status === 'rejected' ? String(c.reason) : '');
    assert.equal(c.status === 'fulfilled' && c.value, 'sent');
    assert.equal(h.connections, 3, 'the waiting send opened a connection of its own');
  });
});

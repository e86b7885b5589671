// The HTTP listener on its own, with real sockets: body limits, timeouts for slow and silent clients, failing routes.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHttpListener, MAX_BODY_BYTES, type HttpListener } from '../../../core/http/server.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import type { LogFields } from '../../../core/log/types.ts';
import type { HttpRequest } from '../../../core/http/types.ts';

/** Sends raw bytes on a new connection and resolves with all it got back once the server closes it (or `waitMs` passes). */
function rawExchange(port: number, data: string | Buffer, waitMs = 5000): Promise<{ reply: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    const timer = setTimeout(() => { s.destroy(); resolve({ reply, closedByServer: false }); }, waitMs);
    s.on('data', (d) => { reply += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); resolve({ reply, closedByServer: true }); });
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'ECONNRESET') reject(e); });
    s.write(data);
  });
}

describe('HTTP listener', function () {
  this.timeout(30_000);
  let server: HttpListener;
  let port: number;
  const logs: LogFields[] = [];
  const seen: HttpRequest[] = [];

  before(async () => {
    const log = new JsonLogger({ level: 'debug', format: 'json', sink: { write() {} }, listeners: [(r) => { logs.push(r); }] });
    server = await startHttpListener({
      listen: ['127.0.0.1:0'], allowed: (ip) => ip === '127.0.0.1', log, requestTimeoutMs: 600,
      routes: [
        { method: 'POST', path: '/echo', handle: async (req) => { seen.push(req); return { status: 200, body: req.body } }, },
        { method: 'GET', path: '/boom', handle: async () => { throw new Error('route broke'); } },
        { method: 'GET', path: '/bad-answer', handle: async () => ({ status: 200, headers: { 'x-bad': 'a\r\nInjected: yes' }, body: 'x' }) },
      ],
    });
    port = server.addresses[0].port;
  });
  after(() => server?.close());

  it('gives a POST route its body, up to 64 KB', async () => {
    const body = Buffer.alloc(MAX_BODY_BYTES, 'a');
    const res = await fetch(`http://127.0.0.1:${port}/echo?x=1`, { method: 'POST', body });
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, MAX_BODY_BYTES);
    const req = seen.at(-1)!;
    assert.deepEqual([req.method, req.path, req.query.get('x'), req.body.length, req.remoteAddress, req.tls], ['POST', '/echo', '1', MAX_BODY_BYTES, '127.0.0.1', false]);
  });

  it('refuses a larger body with 413 without reading it, and a body without a declared length with 411', async () => {
    const before = seen.length;
    const big = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: Buffer.alloc(MAX_BODY_BYTES + 1, 'a') });
    assert.equal(big.status, 413);
    assert.equal(big.headers.get('connection'), 'close');
    await big.text();
    const chunked = await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.match(chunked.reply, /^HTTP\/1\.1 411 /);
    assert.equal(seen.length, before, 'the route never ran');
  });

  it('answers 500 for a route that throws or answers what HTTP cannot carry, and logs the error', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/boom`);
    assert.equal(res.status, 500);
    await res.text();
    assert.ok(logs.some((r) => r.msg === 'http route failed' && String(r.error).includes('route broke')));
    const bad = await rawExchange(port, 'GET /bad-answer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(bad.reply, /^HTTP\/1\.1 500 /);
    assert.doesNotMatch(bad.reply, /Injected/);
  });

  it('drops a client that sends its request too slowly, or nothing at all, while others are served', async () => {
    const started = Date.now();
    // A header line a byte at a time, each well within the idle time: only the request timeout ends it.
    const slow = new Promise<{ closedAfterMs: number }>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      const bytes = 'GET /boom HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'y'.repeat(200);
      let i = 0;
      const drip = setInterval(() => { if (i < bytes.length) s.write(bytes[i++]); }, 50);
      s.on('error', () => undefined);
      s.on('close', () => { clearInterval(drip); resolve({ closedAfterMs: Date.now() - started }); });
    });
    const silent = rawExchange(port, '', 10_000);
    // Served meanwhile, each at once.
    for (let n = 0; n < 5; n++) {
      const t0 = Date.now();
      const res = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: 'hi' });
      assert.equal(await res.text(), 'hi');
      assert.ok(Date.now() - t0 < 300, 'another client is not held up');
      await new Promise((r) => setTimeout(r, 100));
    }
    const { closedAfterMs } = await slow;
    assert.ok(closedAfterMs < 5000, `the slow client was dropped after ${closedAfterMs} ms`);
    const quiet = await silent;
    assert.equal(quiet.closedByServer, true, 'the silent client was dropped');
    assert.ok(Date.now() - started < 8000);
  });
});

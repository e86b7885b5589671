// A client outside allow_from that opens hundreds of idle sockets to the HTTP listener must not take the gateway's file
// descriptors: past http.max_connections_per_ip (or max_connections in all) each is closed at once, counted in
// mailmoat_http_connections_refused_total, and warned of in one line, while SMTP greets and /health/live answers. With
// real parts: a running gateway, real sockets from loopback addresses of their own (127.0.0.1 the flood, 127.0.0.2
// the admin's allow_from client), an SMTP dialog.
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startHttpListener } from '../../../core/http/server.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { loadTls } from '../../../core/smtp/tls.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';

/** Idle sockets opened to `port` from `from`; `closed` counts those the server closed. */
async function openIdle(port: number, from: string, n: number): Promise<{ sockets: net.Socket[]; closed: () => number }> {
  let closed = 0;
  const sockets = await Promise.all(Array.from({ length: n }, () => new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: from });
    s.on('close', () => { closed++; });
    s.once('connect', () => resolve(s));
    s.once('error', (e) => { if (!s.connecting) return; reject(e); });
  })));
  return { sockets, closed: () => closed };
}

/** GET `p` from `from`: the status. */
function get(port: number, p: string, from: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

const sample = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);

describe('HTTP listener: connection bounds against a socket flood', function () {
  this.timeout(60_000);
  let g: TestGateway;
  let port: number;
  let open: net.Socket[] = [];
  const warnings = () => g.logs.filter((l) => l.msg === 'http connection refused: too many connections');

  async function start(http: Record<string, unknown>): Promise<void> {
    g = await startGateway({ config: { http: { listen: ['127.0.0.1:0'], allow_from: ['127.0.0.2/32'], ...http } } });
    port = g.gateway.admin!.addresses[0].port;
  }
  afterEach(async () => {
    for (const s of open) s.destroy();
    open = [];
    await g?.stop();
  });

  it('keeps max_connections_per_ip of one client\'s 300 idle sockets and closes the rest at once; SMTP and /health/live still answer', async () => {
    await start({ max_connections_per_ip: 20 });
    const flood = await openIdle(port, '127.0.0.1', 300);
    open = flood.sockets;
    await waitUntil('280 sockets closed by the gateway', () => flood.closed() >= 280);
    assert.equal(flood.sockets.filter((s) => !s.destroyed).length, 20, 'max_connections_per_ip kept open');

    const smtp = await SmtpDialog.connect(g.port);
    assert.equal((await smtp.read()).code, 220, 'SMTP still greets');
    await smtp.quit();
    assert.equal((await get(port, '/health/live', '127.0.0.2')).status, 200, 'the admin\'s client still gets in');

    const metrics = (await get(port, '/metrics', '127.0.0.2')).body;
    assert.equal(sample(metrics, 'mailmoat_http_connections_refused_total{limit="max_connections_per_ip"}'), 280);
    assert.equal(sample(metrics, 'mailmoat_http_connections_refused_total{limit="max_connections"}'), 0);
    // One line for the flood (the rest are counted for the minute's summary), saying who and which bound.
    assert.equal(warnings().length, 1);
    const [w] = warnings();
    assert.deepEqual([w.level, w.client, w.limit, w.open_from_client, w.max_per_ip], ['warn', '127.0.0.1', 'max_connections_per_ip', 20, 20]);
  });

  it('closes what passes max_connections in all, from any number of clients', async () => {
    await start({ max_connections: 30, max_connections_per_ip: 1000 });
    const a = await openIdle(port, '127.0.0.1', 25);
    const b = await openIdle(port, '127.0.0.3', 25);
    open = [...a.sockets, ...b.sockets];
    await waitUntil('20 sockets closed by the gateway', () => a.closed() + b.closed() >= 20);
    assert.equal(open.filter((s) => !s.destroyed).length, 30);
    const refused = await openIdle(port, '127.0.0.2', 1);
    open.push(...refused.sockets);
    await waitUntil('the admin\'s client refused too: the bound is the process\'s', () => refused.closed() === 1);
    for (const s of open) s.destroy();
    // Until the gateway has seen the closes, an asking connection may be refused too: each such is counted as well.
    let turnedAway = 0;
    await waitUntil('room again', async () => {
      const ok = await get(port, '/health/live', '127.0.0.2').then(() => true, () => false);
      if (!ok) turnedAway++;
      return ok;
    });
    const metrics = (await get(port, '/metrics', '127.0.0.2')).body;
    assert.equal(sample(metrics, 'mailmoat_http_connections_refused_total{limit="max_connections"}'), 21 + turnedAway);
    assert.equal(sample(metrics, 'mailmoat_http_connections_refused_total{limit="max_connections_per_ip"}'), 0);
  });

  it('takes a trusted proxy\'s connections past max_connections_per_ip (it carries many clients), and allow_from clients\'', async () => {
    await start({ max_connections_per_ip: 5, trusted_proxies: ['127.0.0.1'] });
    const proxy = await openIdle(port, '127.0.0.1', 40);
    const admin = await openIdle(port, '127.0.0.2', 40);
    const other = await openIdle(port, '127.0.0.4', 40);
    open = [...proxy.sockets, ...admin.sockets, ...other.sockets];
    await waitUntil('35 of the other client\'s sockets closed', () => other.closed() >= 35);
    assert.deepEqual([proxy.closed(), admin.closed(), other.sockets.filter((s) => !s.destroyed).length], [0, 0, 5]);
  });
});

describe('HTTP listener: the flood warning', function () {
  this.timeout(30_000);

  it('over HTTPS too: one line as the flood starts, then one per window with the counts, by bound and client', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'moat-http-flood-'));
    const logs: LogFields[] = [];
    const log = new JsonLogger({ level: 'info', format: 'json', sink: { write() {} }, listeners: [(r) => { logs.push(r); }] });
    const material = loadTls({ dataDir: dir, hostname: 'localhost' });
    const listener = await startHttpListener({
      listen: ['127.0.0.1:0'], tls: { key: material.key, cert: material.cert }, allowed: () => false, log,
      connectionLimits: () => ({ max: 1000, perIp: 3 }), floodLogWindowMs: 1500,
      routes: [{ method: 'GET', path: '/x', public: true, handle: async () => ({ status: 200, body: 'x' }) }],
    });
    const port = listener.addresses[0].port;
    let held: net.Socket[] = [];
    try {
      const a = await openIdle(port, '127.0.0.1', 53);
      const b = await openIdle(port, '127.0.0.5', 13);
      held = [...a.sockets, ...b.sockets];
      await waitUntil('60 refused', () => a.closed() + b.closed() >= 60);
      assert.deepEqual([a.closed(), b.closed()], [50, 10]);
      // Another client still gets TLS and an answer.
      const answer = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.6', servername: 'localhost', ca: material.cert } as tls.ConnectionOptions, () => c.write('GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let got = '';
        c.on('data', (d) => { got += d; });
        c.on('close', () => resolve(got));
        c.on('error', reject);
      });
      assert.match(answer, /^HTTP\/1\.1 200 /);
      const summary = await waitFor('the window\'s summary', () => logs.find((l) => l.msg === 'http connections refused: too many connections'));
      const first = logs.filter((l) => l.msg === 'http connection refused: too many connections');
      assert.deepEqual(first.map((l) => [l.level, l.client, l.limit]), [['warn', '127.0.0.1', 'max_connections_per_ip']], 'one line as it starts');
      assert.deepEqual([summary.level, summary.refused, summary.by_limit, summary.clients], ['warn', 59, { max_connections_per_ip: 59 }, 2], 'the rest counted');
      assert.deepEqual(summary.busiest, [{ client: '127.0.0.1', refused: 49 }, { client: '127.0.0.5', refused: 10 }]);
      // The flood goes on: the next window has its summary only, no line as it comes.
      const more = await openIdle(port, '127.0.0.1', 5);
      held.push(...more.sockets);
      await waitUntil('5 more refused', () => more.closed() === 5);
      const next = await waitFor('the next window\'s summary', () => logs.filter((l) => l.msg === 'http connections refused: too many connections')[1]);
      assert.deepEqual([next.refused, next.busiest], [5, [{ client: '127.0.0.1', refused: 5 }]]);
      assert.equal(logs.filter((l) => l.msg === 'http connection refused: too many connections').length, 1);
    } finally {
      for (const s of held) s.destroy();
      await listener.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

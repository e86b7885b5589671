// The admin HTTP listener of a real gateway: /metrics as Prometheus scrapes it, the health checks, allow_from, HTTPS,
// and its part in the gateway's start and stop.
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { spawnGateway, startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { freePort } from '../../helpers/ports.ts';
import { validateConfig } from '../../../core/config/load.ts';

const run = promisify(execFile);
const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function adminUrl(gw: TestGateway, p: string): string {
  const a = gw.gateway.admin!.addresses[0];
  return `http://127.0.0.1:${a.port}${p}`;
}

async function sendOne(port: number): Promise<void> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    const info = await t.sendMail({ envelope: { from: 'sender@client.example', to: ['user@example.com'] }, raw: testMessage() });
    assert.match(info.response, /^250 /);
  } finally { t.close(); }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('admin HTTP listener', function () {
  this.timeout(60_000);

  describe('on plain HTTP, from an allowed client', () => {
    let gw: TestGateway;
    before(async () => { gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'] } } }); });
    after(() => gw?.stop());

    it('serves /metrics as Prometheus text with the live counters after a real message', async () => {
      await sendOne(gw.port);
      const res = await fetch(adminUrl(gw, '/metrics'));
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      assert.match(text, /^# TYPE mailmoat_messages_total counter$/m);
      assert.match(text, /^mailmoat_messages_total\{verdict="accept"\} 1$/m);
      assert.match(text, /^mailmoat_connections_total [1-9]\d*$/m);
      assert.match(text, /^# TYPE mailmoat_queue_scheduled gauge\nmailmoat_queue_scheduled \d+$/m);
      assert.match(text, /^mailmoat_data_duration_seconds_count 1$/m);
    });

    it('answers the health checks with JSON: live, and ready once started', async () => {
      const live = await fetch(adminUrl(gw, '/health/live'));
      assert.equal(live.status, 200);
      assert.deepEqual(await live.json(), { status: 'ok' });
      const ready = await fetch(adminUrl(gw, '/health/ready'));
      assert.equal(ready.status, 200);
      assert.match(ready.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(await ready.json(), { status: 'ok' });
    });

    it('answers 404 for an unknown path, 405 with an Allow header for another method, and HEAD as GET without a body', async () => {
      const missing = await fetch(adminUrl(gw, '/nothing-here'));
      assert.equal(missing.status, 404);
      const post = await fetch(adminUrl(gw, '/metrics'), { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      const head = await fetch(adminUrl(gw, '/health/live'), { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(`${JSON.stringify({ status: 'ok' })}\n`.length));
      assert.equal(await head.text(), '');
    });

    it('logs each request at debug level with its path but never its query', async () => {
      const res = await fetch(adminUrl(gw, '/health/live?ticket=s3cret-ticket'));
      assert.equal(res.status, 200);
      await res.text();
      const line = gw.logs.find((r) => r.msg === 'http request' && r.path === '/health/live');
      assert.ok(line, 'an access line for the request');
      assert.equal(line.level, 'debug');
      assert.equal(line.status, 200);
      assert.equal(line.method, 'GET');
      assert.equal(line.client, '127.0.0.1');
      assert.equal(typeof line.ms, 'number');
      assert.ok(!JSON.stringify(gw.logs).includes('s3cret-ticket'), 'the query is not logged');
    });

    it('logs its bound address as the SMTP listeners do', () => {
      const a = gw.gateway.admin!.addresses[0];
      assert.ok(gw.logs.some((r) => r.msg === 'listening' && r.listener === 'http' && r.port === a.port && r.host === '127.0.0.1'));
    });
  });

  it('shows the same metrics as `moat metrics --prometheus` (the CLI and the route share one function)', async () => {
    const httpPort = await freePort();
    const gw = await spawnGateway({ config: { http: { listen: [`127.0.0.1:${httpPort}`] } } });
    try {
      await sendOne(gw.port);
      // Read once the message is delivered and its connection gone, so that nothing changes between the two reads.
      const settled = (t: string) => [/^mailmoat_queue_scheduled 0$/m, /^mailmoat_queue_journaled 0$/m, /^mailmoat_connections_open 0$/m].every((re) => re.test(t));
      for (let i = 0; !settled(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()); i++) {
        assert.ok(i < 100, 'the message is delivered and its connection closed');
        await new Promise((r) => setTimeout(r, 50));
      }
      const cli = (await run(process.execPath, [MOAT, 'metrics', '--config', gw.configFile, '--prometheus'])).stdout;
      const scraped = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      // The scrape itself is not counted anywhere, and no SMTP happened between the two reads.
      // The process's own figures (CPU, memory, event-loop lag, children) move by themselves between the two reads.
      const stable = (t: string) => t.split('\n').filter((l) => !/^(mailmoat_dns_|process_|nodejs_|mailmoat_child_processes |mailmoat_script_sandbox_children )/.test(l)).join('\n');
      assert.equal(stable(scraped), stable(cli));
      assert.match(scraped, /^mailmoat_messages_total\{verdict="accept"\} 1$/m);
    } finally { await gw.kill(); }
  });

  it('refuses clients outside allow_from with 403, leaves public routes open, and applies a reloaded allow_from', async () => {
    const gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'], allow_from: ['192.0.2.0/24'] } } });
    try {
      gw.gateway.admin!.addRoute({
        method: 'GET', path: '/test-public', public: true,
        handle: async (req) => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: `hello ${req.remoteAddress} ${req.query.get('q')} ${req.tls}` }),
      });
      for (const p of ['/metrics', '/health/ready', '/health/live', '/nothing-here']) {
        const res = await fetch(adminUrl(gw, p));
        assert.equal(res.status, 403, p);
        await res.text();
      }
      const pub = await fetch(adminUrl(gw, '/test-public?q=one'));
      assert.equal(pub.status, 200);
      assert.equal(await pub.text(), 'hello 127.0.0.1 one false');
      assert.throws(() => gw.gateway.admin!.addRoute({ method: 'GET', path: '/test-public', handle: async () => ({ status: 200, body: '' }) }), /already/);

      const next = await validateConfig({ ...gw.gateway.runtime.config, http: { ...gw.gateway.runtime.config.http, allow_from: ['127.0.0.0/8'] } });
      assert.equal(await gw.gateway.reload(next), true);
      const after = await fetch(adminUrl(gw, '/metrics'));
      assert.equal(after.status, 200);
      await after.text();
    } finally { await gw.stop(); }
  });

  it('serves HTTPS with the SMTP listeners\' certificate when http.tls is set', async () => {
    const gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'], tls: true } } });
    try {
      const a = gw.gateway.admin!.addresses[0];
      assert.equal(a.kind, 'https');
      // Trusting only the self-signed certificate the SMTP listeners use proves it is the same one.
      const ca = readFileSync(path.join(gw.dataDir, 'tls', 'self-signed.crt'));
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: a.port, path: '/health/ready', ca, servername: 'localhost', agent: false }, (res) => {
          let b = '';
          res.on('data', (d) => { b += d; });
          res.on('end', () => resolve({ status: res.statusCode!, body: b }));
        }).on('error', reject);
      });
      assert.equal(status, 200);
      assert.deepEqual(JSON.parse(body), { status: 'ok' });
      // Plain HTTP on the HTTPS port gets no answer.
      await assert.rejects(fetch(`http://127.0.0.1:${a.port}/health/ready`));
    } finally { await gw.stop(); }
  });

  it('reads 503 stopping while the SMTP listeners finish their sessions, and closes its port once stopped', async () => {
    const gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'] } } });
    const port = gw.gateway.admin!.addresses[0].port;
    // A message half sent holds the stop until its final dot.
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<a@client.example>');
    await c.cmd('RCPT TO:<user@example.com>');
    assert.equal((await c.cmd('DATA')).code, 354);
    c.write('Subject: slow\r\n\r\nfirst line\r\n');
    const stopping = gw.stop();
    await new Promise((r) => setTimeout(r, 200));
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'unavailable', reason: 'stopping' });
    c.write('.\r\n');
    assert.equal((await c.read()).code, 250, 'the message under way is still taken');
    await stopping;
    assert.equal(await refused(port), true, 'the admin port is closed after stop');
  });

  it('stops the start with a clear error when its port is taken, leaving no SMTP listener open', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const takenPort = (taken.address() as net.AddressInfo).port;
    const smtpPort = await freePort();
    try {
      await assert.rejects(
        startGateway({ config: { server: { listen: [`127.0.0.1:${smtpPort}`] }, http: { listen: [`127.0.0.1:${takenPort}`] } } }),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${takenPort} \\(http\\): .*EADDRINUSE`),
      );
      assert.equal(await refused(smtpPort), true, 'no SMTP listener is left open (the admin listener starts first)');
    } finally { taken.close(); }
  });

  it('keeps http.listen on reload (restart-only) and says so', async () => {
    const gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'] } } });
    try {
      const port = gw.gateway.admin!.addresses[0].port;
      const next = await validateConfig({ ...gw.gateway.runtime.config, http: { ...gw.gateway.runtime.config.http, listen: [] } });
      assert.equal(await gw.gateway.reload(next), true);
      assert.deepEqual(gw.gateway.runtime.config.http.listen, ['127.0.0.1:0']);
      const warn = gw.logs.find((r) => r.msg?.toString().startsWith('config reload: these keys change only on restart'));
      assert.deepEqual(warn?.keys, ['http.listen']);
      const res = await fetch(`http://127.0.0.1:${port}/health/live`);
      assert.equal(res.status, 200);
      await res.text();
    } finally { await gw.stop(); }
  });
});

// Strict-Transport-Security: sent with every answer of an HTTPS listener, so a browser that once opened a quarantine
// link over HTTPS never sends the next one in clear; never over plain HTTP, not even for a request a trusted proxy
// says came over HTTPS (the proxy owns its host name's policy).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startHttpListener, type HttpListener } from '../../../core/http/server.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import { loadTls } from '../../../core/smtp/tls.ts';
import type { Route } from '../../../core/http/types.ts';

function get(port: number, ca: Buffer, target: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: target, method, ca, servername: 'localhost', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP listener: Strict-Transport-Security', function () {
  this.timeout(20_000);
  let dir: string;
  let ca: Buffer;
  let secure: HttpListener;
  let plain: HttpListener;
  const routes: Route[] = [
    { method: 'GET', path: '/page', public: true, handle: async () => ({ status: 200, headers: { 'content-type': 'text/html' }, body: '<p>x</p>' }) },
    { method: 'GET', path: '/admin-only', handle: async () => ({ status: 200, body: 'x' }) },
  ];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'moat-hsts-'));
    const material = loadTls({ dataDir: dir, hostname: 'localhost' });
    ca = material.cert;
    const log = new JsonLogger({ level: 'error', format: 'json', sink: { write() {} } });
    secure = await startHttpListener({ listen: ['127.0.0.1:0'], tls: { key: material.key, cert: material.cert }, allowed: () => false, log, routes });
    plain = await startHttpListener({ listen: ['127.0.0.1:0'], allowed: () => true, trustedProxy: (ip) => ip === '127.0.0.1', log, routes });
  });
  after(async () => {
    await Promise.all([secure?.close(), plain?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is on every answer over HTTPS, refusals included, for a year and this host only', async () => {
    const port = secure.addresses[0].port;
    for (const [target, method, status] of [['/page', 'GET', 200], ['/page', 'HEAD', 200], ['/admin-only', 'GET', 403], ['/nowhere', 'GET', 403]] as const) {
      const r = await get(port, ca, target, method);
      assert.equal(r.status, status, `${method} ${target}`);
      assert.equal(r.headers['strict-transport-security'], 'max-age=31536000', `${method} ${target}: no includeSubDomains, the domain's other hosts are not ours`);
    }
  });

  it('is never sent over plain HTTP, even when a trusted proxy says the client used HTTPS', async () => {
    const port = plain.addresses[0].port;
    const direct = await fetch(`http://127.0.0.1:${port}/page`);
    assert.equal(direct.status, 200);
    assert.equal(direct.headers.get('strict-transport-security'), null);
    const proxied = await fetch(`http://127.0.0.1:${port}/page`, { headers: { 'x-forwarded-for': '192.0.2.7', 'x-forwarded-proto': 'https' } });
    assert.equal(proxied.status, 200);
    assert.equal(proxied.headers.get('strict-transport-security'), null);
  });
});

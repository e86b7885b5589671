// server.tls.min_version and server.tls.ciphers (Postfix's smtpd_tls_protocols and smtpd_tls_ciphers), seen by real
// `openssl s_client` handshakes on every TLS listener: STARTTLS on the plain and submission ports, implicit TLS, and
// HTTPS sharing their context; applied again by a reload; refused by check-config when OpenSSL cannot use the list.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { validateConfig } from '../../../core/config/load.ts';
import type { GatewayConfig } from '../../../core/config/gateway-schema.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

interface Handshake { ok: boolean; protocol?: string; cipher?: string; output: string }

/** One handshake by `openssl s_client` (asynchronous: the gateway serving it runs in this process). */
function handshake(port: number, starttls: boolean, args: string[]): Promise<Handshake> {
  const all = ['s_client', '-brief', '-connect', `127.0.0.1:${port}`, ...(starttls ? ['-starttls', 'smtp'] : []), ...args];
  return new Promise((resolve) => {
    const child = execFile('openssl', all, { timeout: 15_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      const protocol = /^Protocol version: (\S+)/m.exec(output)?.[1];
      const cipher = /^Ciphersuite: (\S+)/m.exec(output)?.[1];
      resolve({ ok: !err && protocol !== undefined, protocol, cipher, output });
    });
    child.stdin!.end();
  });
}

interface Listener { name: string; port: number; starttls: boolean }

function listenersOf(gw: TestGateway): Listener[] {
  const smtp = gw.gateway.listeners.map((l) => ({ name: l.kind, port: l.port, starttls: l.kind !== 'smtps' }));
  const https = gw.gateway.admin!.addresses.map((a) => ({ name: 'https', port: a.port, starttls: false }));
  return [...smtp, ...https];
}

/** Asserts what each listener does with one client offer, naming the listener that did otherwise. */
async function expectOnEvery(gw: TestGateway, args: string[], want: { ok: boolean; protocol?: string; cipher?: string }): Promise<void> {
  const listeners = listenersOf(gw);
  assert.equal(listeners.length, 4, 'smtp, smtps, submission and https');
  for (const l of listeners) {
    const h = await handshake(l.port, l.starttls, args);
    const where = `${l.name} with openssl s_client ${args.join(' ')}:\n${h.output}`;
    assert.equal(h.ok, want.ok, where);
    if (want.protocol) assert.equal(h.protocol, want.protocol, where);
    if (want.cipher) assert.equal(h.cipher, want.cipher, where);
  }
}

/** The old protocols, offered as an old client would: OpenSSL's own security level would refuse them otherwise. */
const TLS11 = ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'];

describe('TLS versions and ciphers on every listener', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  let started: GatewayConfig;
  let dir: string;
  let pair: { cert: string; key: string };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-tls-protocols-'));
    // An RSA key, as most certificates still have: it is the one that can agree on RSA key exchange (AES128-SHA).
    pair = { cert: path.join(dir, 'rsa.crt'), key: path.join(dir, 'rsa.key') };
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=mx.test.example',
      '-keyout', pair.key, '-out', pair.cert], { stdio: 'ignore' });
    gw = await startGateway({
      config: {
        server: { tls_listen: ['127.0.0.1:0'], submission_listen: ['127.0.0.1:0'], tls: pair },
        http: { listen: ['127.0.0.1:0'], tls: true },
        log: { level: 'info' },
      },
    });
    started = gw.gateway.runtime.config;
  });
  after(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function reloadWith(tls: Record<string, unknown>): Promise<void> {
    const next = await validateConfig({ ...started, server: { ...started.server, tls: { ...pair, ...tls } } });
    assert.equal(await gw.gateway.reload(next), true);
  }

  describe('by default', () => {
    it('refuses TLS 1.1, takes TLS 1.2 and 1.3, and agrees on a forward-secret cipher with a client that offers one', async () => {
      assert.equal(started.server.tls.min_version, 'TLSv1.2');
      await expectOnEvery(gw, TLS11, { ok: false });
      await expectOnEvery(gw, ['-tls1_2'], { ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' });
      await expectOnEvery(gw, ['-tls1_3'], { ok: true, protocol: 'TLSv1.3' });
      // Node's list, kept for port 25 (README): a client that offers nothing better still gets encryption.
      await expectOnEvery(gw, ['-tls1_2', '-cipher', 'AES128-SHA'], { ok: true, cipher: 'AES128-SHA' });
    });
  });

  describe('at start', () => {
    it('with min_version TLSv1.3, refuses TLS 1.2 on every listener from the first connection', async () => {
      const strict = await startGateway({
        config: {
          server: { tls_listen: ['127.0.0.1:0'], submission_listen: ['127.0.0.1:0'], tls: { ...pair, min_version: 'TLSv1.3' } },
          http: { listen: ['127.0.0.1:0'], tls: true },
          log: { level: 'info' },
        },
      });
      try {
        await expectOnEvery(strict, ['-tls1_2'], { ok: false });
        await expectOnEvery(strict, ['-tls1_3'], { ok: true, protocol: 'TLSv1.3' });
      } finally { await strict.stop(); }
    });
  });

  describe('after a reload', () => {
    afterEach(async () => { await reloadWith({}); });

    it('with ciphers: a forward-secret list refuses AES128-SHA over TLS 1.2, and TLS 1.3 keeps its suites', async () => {
      await reloadWith({ ciphers: 'ECDHE+AESGCM:ECDHE+CHACHA20' });
      await expectOnEvery(gw, ['-tls1_2', '-cipher', 'AES128-SHA'], { ok: false });
      await expectOnEvery(gw, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA'], { ok: false });
      await expectOnEvery(gw, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], { ok: true, cipher: 'ECDHE-RSA-AES128-GCM-SHA256' });
      await expectOnEvery(gw, ['-tls1_3'], { ok: true, protocol: 'TLSv1.3' });
    });

    it('with min_version TLSv1.3: TLS 1.2 is refused, and a reload back to the default takes it again', async () => {
      await reloadWith({ min_version: 'TLSv1.3' });
      await expectOnEvery(gw, ['-tls1_2'], { ok: false });
      await expectOnEvery(gw, ['-tls1_3'], { ok: true, protocol: 'TLSv1.3' });
      await reloadWith({});
      await expectOnEvery(gw, ['-tls1_2'], { ok: true, protocol: 'TLSv1.2' });
    });

    it('with TLS 1.3 suites in ciphers: only those are agreed on', async () => {
      await reloadWith({ ciphers: 'ECDHE+AESGCM:TLS_CHACHA20_POLY1305_SHA256' });
      await expectOnEvery(gw, ['-tls1_3'], { ok: true, cipher: 'TLS_CHACHA20_POLY1305_SHA256' });
    });
  });

  describe('moat check-config', () => {
    function check(tls: Record<string, unknown>): Promise<{ code: number; stderr: string }> {
      const file = path.join(dir, 'mailmoat.yaml');
      writeFileSync(file, stringify({ server: { tls }, domains: ['example.com'], data_dir: path.join(dir, 'data') }));
      return new Promise((resolve) => {
        execFile(process.execPath, [MOAT, 'check-config', '--config', file], { timeout: 30_000 }, (err, _out, stderr) => {
          resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stderr });
        });
      });
    }

    it('refuses a cipher list OpenSSL cannot use, a TLS 1.3-only list with TLS 1.2 allowed, and an older version', async () => {
      const junk = await check({ ciphers: 'ECDHE+AESGCN:NOSUCH' });
      assert.equal(junk.code, 1);
      assert.match(junk.stderr, /^ {2}server\.tls\.ciphers: is not a usable OpenSSL cipher list: the part for TLS 1\.2 ciphers \(ECDHE\+AESGCN:NOSUCH\) matches no cipher OpenSSL knows/m);
      const only13 = await check({ ciphers: 'TLS_AES_256_GCM_SHA384' });
      assert.equal(only13.code, 1);
      assert.match(only13.stderr, /server\.tls\.ciphers: names only TLS 1\.3 suites, so TLS 1\.2 clients could not connect/);
      assert.equal((await check({ ciphers: 'TLS_AES_256_GCM_SHA384', min_version: 'TLSv1.3' })).code, 0);
      const old = await check({ min_version: 'TLSv1' });
      assert.equal(old.code, 1);
      assert.match(old.stderr, /server\.tls\.min_version: expected one of "TLSv1\.2", "TLSv1\.3"/);
      const good = await check({ ciphers: 'ECDHE+AESGCM:ECDHE+CHACHA20', min_version: 'TLSv1.2' });
      assert.equal(good.code, 0, good.stderr);
    });
  });
});

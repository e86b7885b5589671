// Whose certificate the relay takes from a smarthost, as a Postfix admin with `smtp_tls_security_level = verify`
// expects: a smarthost given by address is checked against the certificate's IP entries (not against "localhost"),
// SNI carries names only, the system CA store counts as trusted (not only Node's bundled list), and `tls_ca_file`
// names the CAs to trust instead. Against real smtp-server smarthosts with a CA and leaf certificates made by openssl.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { SMTPServer } from 'smtp-server';
import { SmtpRelay } from '../../../core/relay/smtp-relay.ts';
import { smarthostTarget } from '../../../core/relay/smarthost.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { ConfigError, validateConfig } from '../../../core/config/load.ts';
import { buildRelay } from '../../../core/relay/make-relay.ts';
import type { GatewayConfig } from '../../../core/config/gateway-schema.ts';
import type { QueueStore } from '../../../core/queue/queue-store.ts';
import type { DnsResolver } from '../../../core/dns/types.ts';

const MSG = 'Subject: certificates\r\n\r\nhello\r\n';
const body = () => Readable.from([Buffer.from(MSG)]);
const entry = (): QueueEntry => ({
  id: 'cert', mailFrom: 'a@client.example', recipients: [], prepend: '', remove: [], receivedAt: Date.now(), size: MSG.length,
  client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
});

/** A CA and leaf certificates it signed, each with only the subjectAltName given. */
function makeCertificates(dir: string): { caFile: string; otherCaFile: string; leaf(name: string, san: string): { key: Buffer; cert: Buffer } } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Mailmoat test CA');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=Some other CA');
  return {
    caFile: path.join(dir, 'ca.pem'),
    otherCaFile: path.join(dir, 'other.pem'),
    leaf(name, san) {
      writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      // The CN is deliberately no host name: only the SAN may count.
      openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name} test server`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
      return { key: readFileSync(path.join(dir, `${name}.key`)), cert: readFileSync(path.join(dir, `${name}.pem`)) };
    },
  };
}

/** A real smtp-server smarthost with STARTTLS and `tls`, on `host`; records each message and the SNI it was asked for. */
async function smarthost(host: string, tlsFiles: { key: Buffer; cert: Buffer }) {
  const got: Array<{ secure: boolean }> = [];
  const sni: string[] = [];
  const server = new SMTPServer({
    logger: false, disableReverseLookup: true, authOptional: true, disabledCommands: ['AUTH'], ...tlsFiles,
    SNICallback(name, cb) { sni.push(name); cb(null, undefined as never); },
    onData(stream, session, cb) { stream.resume(); stream.on('end', () => { got.push({ secure: session.secure }); cb(); }); },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, got, sni, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

async function deliver(url: string, extra: { tls_ca_file?: string } = {}) {
  const target = smarthostTarget({ url, starttls: 'required', tls_verify: true, connections: 1, timeout: 5000, ...extra })!;
  const relay = new SmtpRelay(target, 'relay.test');
  try {
    const [res] = await relay.send(entry(), ['u@example.com'], body);
    return res;
  } finally { await relay.close(); }
}

describe('smarthost certificates and trusted CAs', function () {
  this.timeout(30_000);
  let dir: string;
  let certs: ReturnType<typeof makeCertificates>;
  let ipOnly: { key: Buffer; cert: Buffer };
  let localhostOnly: { key: Buffer; cert: Buffer };
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-smarthost-certs-'));
    certs = makeCertificates(dir);
    ipOnly = certs.leaf('ip', 'IP:127.0.0.1');
    localhostOnly = certs.leaf('dns', 'DNS:localhost');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('the name a certificate must carry', () => {
    it('smtp://127.0.0.1 with starttls: required delivers to a certificate naming only IP:127.0.0.1, and sends no SNI', async () => {
      // It was deferred with "Host: localhost. is not cert's CN": Node checked the address-less upgrade against localhost.
      const srv = await smarthost('127.0.0.1', ipOnly);
      try {
        const res = await deliver(`smtp://127.0.0.1:${srv.port}`, { tls_ca_file: certs.caFile });
        assert.ok(res.ok, res.reply);
        assert.deepEqual(srv.got, [{ secure: true }]);
        assert.deepEqual(srv.sni, [], 'an address is never sent as SNI');
      } finally { await srv.stop(); }
    });

    it('smtp://[::1] with starttls: required defers a certificate that names only DNS:localhost', async () => {
      // It was delivered: the certificate was checked against "localhost", a name that is not the server's address.
      const srv = await smarthost('::1', localhostOnly);
      try {
        const res = await deliver(`smtp://[::1]:${srv.port}`, { tls_ca_file: certs.caFile });
        assert.deepEqual([res.ok, res.permanent, res.hostFailure], [false, false, true], res.reply);
        assert.match(res.reply, /IP: ::1 is not in the cert's list/);
        assert.equal(srv.got.length, 0);
      } finally { await srv.stop(); }
    });

    it('smtp://localhost delivers to a DNS:localhost certificate and asks for it by SNI; an IP-only one is deferred', async () => {
      const good = await smarthost('127.0.0.1', localhostOnly);
      const wrong = await smarthost('127.0.0.1', ipOnly);
      try {
        const res = await deliver(`smtp://localhost:${good.port}`, { tls_ca_file: certs.caFile });
        assert.ok(res.ok, res.reply);
        assert.deepEqual(good.sni, ['localhost']);
        const refused = await deliver(`smtp://localhost:${wrong.port}`, { tls_ca_file: certs.caFile });
        assert.equal(refused.ok, false);
        assert.match(refused.reply, /TLS with localhost: Hostname\/IP does not match certificate's altnames: Host: localhost\. is not/);
        assert.equal(wrong.got.length, 0);
      } finally { await good.stop(); await wrong.stop(); }
    });
  });

  describe('trusted CAs', () => {
    it('tls_ca_file: its CA delivers; without it, or with another CA, the message is deferred with a line that says why', async () => {
      const srv = await smarthost('127.0.0.1', ipOnly);
      try {
        const res = await deliver(`smtp://127.0.0.1:${srv.port}`, { tls_ca_file: certs.caFile });
        assert.ok(res.ok, res.reply);
        const unknown = await deliver(`smtp://127.0.0.1:${srv.port}`);
        assert.deepEqual([unknown.ok, unknown.permanent], [false, false]);
        assert.match(unknown.reply, /TLS with 127\.0\.0\.1: unable to verify the first certificate \(its CA is in neither the system store nor Node's CA list: name the CA \(or this certificate\) in tls_ca_file, or set tls_verify: false to take the certificate unchecked\)$/);
        const other = await deliver(`smtp://127.0.0.1:${srv.port}`, { tls_ca_file: certs.otherCaFile });
        assert.equal(other.ok, false);
        assert.match(other.reply, new RegExp(`unable to verify the first certificate \\(its CA is not in tls_ca_file ${certs.otherCaFile.replace(/[.]/g, '\\.')}: add the CA to that file, or set tls_verify: false`));
        assert.equal(srv.got.length, 1);
      } finally { await srv.stop(); }
    });

    it('a route takes its own tls_ca_file and data_done_timeout, as the main smarthost does', async () => {
      const srv = await smarthost('127.0.0.1', ipOnly);
      const route = (caFile: string) => ({ via: `smtp://127.0.0.1:${srv.port}`, starttls: 'required', tls_ca_file: caFile, data_done_timeout: '2m' });
      const send = async (caFile: string) => {
        const config = await validateConfig({ routes: { 'example.com': route(caFile) } }) as GatewayConfig;
        assert.equal(config.routes['example.com'] && typeof config.routes['example.com'] === 'object' && !Array.isArray(config.routes['example.com']) ? config.routes['example.com'].data_done_timeout : 0, 120_000);
        const relay = buildRelay(config, {} as QueueStore, 'relay.test', {} as DnsResolver);
        try {
          const [res] = await relay.send(entry(), ['u@example.com'], body);
          return res;
        } finally { await relay.close(); }
      };
      try {
        const trusted = await send(certs.caFile);
        assert.ok(trusted.ok, trusted.reply);
        const other = await send(certs.otherCaFile);
        assert.equal(other.ok, false);
        assert.match(other.reply, /its CA is not in tls_ca_file/);
        assert.equal(srv.got.length, 1);
      } finally { await srv.stop(); }
    });

    it('the system CA store is trusted without NODE_EXTRA_CA_CERTS or NODE_USE_SYSTEM_CA (as tls_verify documents)', async () => {
      // Node alone trusts only its bundled list: a CA added by update-ca-certificates was refused. OpenSSL's
      // SSL_CERT_FILE stands in for the machine's store here, in a child process whose Node starts with it.
      const srv = await smarthost('127.0.0.1', ipOnly);
      try {
        const relayModule = path.resolve(import.meta.dirname, '../../../core/relay/smtp-relay.ts');
        const script = `
          import { SmtpRelay } from ${JSON.stringify(relayModule)};
          import { Readable } from 'node:stream';
          const relay = new SmtpRelay({ host: '127.0.0.1', port: ${srv.port}, secure: false, starttls: 'required', tlsVerify: true, connections: 1, timeout: 5000, display: 'x' }, 'relay.test');
          const entry = { id: 'sys', mailFrom: 'a@client.example', recipients: [], prepend: '', remove: [], receivedAt: Date.now(), size: 5, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [] };
          const [res] = await relay.send(entry, ['u@example.com'], () => Readable.from([Buffer.from('x\\r\\n\\r\\n')]));
          await relay.close();
          console.log(JSON.stringify(res));`;
        const env: NodeJS.ProcessEnv = { ...process.env, SSL_CERT_FILE: certs.caFile, SSL_CERT_DIR: path.join(dir, 'no-such-dir') };
        delete env.NODE_EXTRA_CA_CERTS;
        delete env.NODE_USE_SYSTEM_CA;
        const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env });
        const res = JSON.parse(stdout.trim().split('\n').at(-1)!);
        assert.ok(res.ok, res.reply);
        assert.deepEqual(srv.got, [{ secure: true }]);
      } finally { await srv.stop(); }
    });

    it('check-config refuses a tls_ca_file that cannot be read, holds no certificate, or is relative; takes a PEM bundle', async () => {
      const empty = path.join(dir, 'empty.pem');
      writeFileSync(empty, 'not a certificate\n');
      const issues = async (file: string) => {
        try {
          await validateConfig({ smarthost: { url: 'smtp://127.0.0.1:25', tls_ca_file: file } });
          return [];
        } catch (e) { if (!(e instanceof ConfigError)) throw e; return e.issues.map((i) => `${i.path}: ${i.message}`); }
      };
      assert.deepEqual(await issues(certs.caFile), []);
      assert.deepEqual(await issues(path.join(dir, 'missing.pem')), [`smarthost.tls_ca_file: cannot read ${path.join(dir, 'missing.pem')}: ENOENT`]);
      assert.deepEqual(await issues(empty), [`smarthost.tls_ca_file: ${empty} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
      assert.deepEqual(await issues('ca.pem'), ['smarthost.tls_ca_file: must be an absolute path']);
    });
  });
});

// The configured certificate as an admin meets it: one outside its validity period is served with a warning at
// check-config, at start and at `moat reload` (printed and logged), and the usual mistakes with the files (a key with a
// passphrase, the chain before the server's own certificate) are refused with what to do about them.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { stringify } from 'yaml';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { freePort } from '../../helpers/ports.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

interface Ran { code: number; stdout: string; stderr: string }

function moat(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { cwd: os.tmpdir(), timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

/** A self-signed pair valid from `start` to `end` (OpenSSL's YYYYMMDDHHMMSSZ), made with `openssl ca`, which takes both dates. */
function datedPair(dir: string, name: string, start: string, end: string): { cert: string; key: string } {
  const ca = path.join(dir, `${name}-ca`);
  execFileSync('mkdir', ['-p', ca]);
  writeFileSync(path.join(ca, 'index.txt'), '');
  writeFileSync(path.join(ca, 'serial'), '01\n');
  writeFileSync(path.join(ca, 'ca.cnf'), [
    '[ca]', 'default_ca = d', '[d]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256',
    'policy = p', 'unique_subject = no', '[p]', 'commonName = supplied', '',
  ].join('\n'));
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}.test`, '-keyout', key, '-out', path.join(ca, 'req.csr')], ca);
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', key, '-in', 'req.csr', '-startdate', start, '-enddate', end, '-out', cert], ca);
  return { cert, key };
}

/** The certificate a new TLS session on the implicit-TLS port gets. */
function servedCertificate(port: number): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => { resolve(s.getPeerCertificate()); s.destroy(); });
    s.once('error', reject);
  });
}

describe('TLS certificate checks', function () {
  this.timeout(60_000);
  let dir: string;
  let valid: { cert: string; key: string };
  let expired: { cert: string; key: string };
  let future: { cert: string; key: string };
  let encrypted: { cert: string; key: string };
  let reversedChain: { cert: string; key: string };

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-tls-checks-'));
    valid = datedPair(dir, 'valid', '20200101000000Z', '20991231000000Z');
    expired = datedPair(dir, 'expired', '20200101000000Z', '20200201000000Z');
    future = datedPair(dir, 'future', '20980101000000Z', '20991231000000Z');
    encrypted = { cert: valid.cert, key: path.join(dir, 'encrypted.key') };
    openssl(['pkey', '-in', valid.key, '-aes256', '-passout', 'pass:secret', '-out', encrypted.key], dir);
    // A CA, a server certificate it signed, and a chain file with the CA's certificate before the server's.
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-subj', '/CN=Test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=mx.test', '-keyout', 'leaf.key', '-out', 'leaf.csr'], dir);
    openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-out', 'leaf.crt'], dir);
    writeFileSync(path.join(dir, 'reversed.crt'), execFileSync('cat', [path.join(dir, 'ca.crt'), path.join(dir, 'leaf.crt')]));
    reversedChain = { cert: path.join(dir, 'reversed.crt'), key: path.join(dir, 'leaf.key') };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A config file naming `pair`, for check-config and a start that is expected to fail. */
  async function configFile(name: string, pair: { cert: string; key: string }): Promise<string> {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({
      server: { listen: [`127.0.0.1:${await freePort()}`], tls: pair },
      domains: ['example.com'], data_dir: path.join(dir, `${name}-data`), log: { level: 'info', format: 'json' },
    }));
    return file;
  }

  describe('moat check-config', () => {
    it('warns of an expired certificate and of one not valid yet, and passes both', async () => {
      const old = await moat(['check-config', '--config', await configFile('cc-expired', expired)]);
      assert.equal(old.code, 0, old.stderr);
      assert.match(old.stderr, /^warning: server\.tls\.cert .*expired\.crt expired on 2020-02-01T00:00:00\.000Z; it is still served/m);
      const early = await moat(['check-config', '--config', await configFile('cc-future', future)]);
      assert.equal(early.code, 0, early.stderr);
      assert.match(early.stderr, /^warning: server\.tls\.cert .*future\.crt is not valid until 2098-01-01T00:00:00\.000Z/m);
      const good = await moat(['check-config', '--config', await configFile('cc-valid', valid)]);
      assert.equal(good.code, 0, good.stderr);
      assert.doesNotMatch(good.stderr, /warning/);
    });

    it('refuses a key with a passphrase, saying they are not supported and how to write it without one', async () => {
      const r = await moat(['check-config', '--config', await configFile('cc-encrypted', encrypted)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /server\.tls \(cert .*valid\.crt, key .*encrypted\.key\): not a usable certificate and key: .*: the private key is protected by a passphrase, which the gateway does not support/);
      assert.match(r.stderr, /`openssl pkey -in \S+encrypted\.key -out \S+encrypted\.key\.plain` \(it asks for the passphrase\)/);
    });

    it('refuses a chain file whose first certificate is not the server\'s own, saying which order it needs', async () => {
      const r = await moat(['check-config', '--config', await configFile('cc-reversed', reversedChain)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /key values mismatch: the key belongs to certificate 2 in the certificate file, not to the first one; the file's first certificate must be the server's own, followed by its chain/);
    });
  });

  describe('moat start', () => {
    for (const [what, pick, pattern] of [
      ['a key with a passphrase', () => encrypted, /protected by a passphrase, which the gateway does not support.*openssl pkey -in \S+encrypted\.key -out/],
      ['a chain file with the CA first', () => reversedChain, /the file's first certificate must be the server's own, followed by its chain/],
    ] as const) {
      it(`refuses to start on ${what}, saying why`, async () => {
        const r = await moat(['start', '--config', await configFile(`start-${what.length}`, pick())]);
        assert.notEqual(r.code, 0);
        assert.match(r.stdout + r.stderr, pattern);
      });
    }

    it('starts on a certificate not valid yet or expired, logging the warning check-config gives', async () => {
      for (const [pair, pattern] of [[future, /is not valid until 2098-01-01/], [expired, /expired on 2020-02-01/]] as const) {
        const gw = await spawnGateway({ config: { server: { tls: pair } } });
        try {
          const line = gw.output.join('').split('\n').find((l) => l.includes('the TLS certificate is not valid now'));
          assert.ok(line, gw.output.join(''));
          assert.match(JSON.parse(line).warning, pattern);
        } finally { await gw.kill(); }
      }
    });
  });

  describe('moat reload', () => {
    let gw: SpawnedGateway;
    let served: { cert: string; key: string };
    beforeEach(async () => {
      served = { cert: path.join(dir, 'served.crt'), key: path.join(dir, 'served.key') };
      copyFileSync(valid.cert, served.cert);
      copyFileSync(valid.key, served.key);
      gw = await spawnGateway({ config: { server: { tls: served, tls_listen: [`127.0.0.1:${await freePort()}`] } } });
    });
    afterEach(async () => { await gw.kill(); });

    for (const [what, pick, pattern] of [
      ['an expired certificate', () => expired, /expired on 2020-02-01T00:00:00\.000Z; it is still served, but clients that verify certificates refuse it/],
      ['a certificate not valid yet', () => future, /is not valid until 2098-01-01T00:00:00\.000Z/],
    ] as const) {
      it(`onto ${what} copied over the configured files prints the warning and logs it`, async () => {
        copyFileSync(pick().cert, served.cert);
        copyFileSync(pick().key, served.key);
        const r = await moat(['reload', '--config', gw.configFile]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^reloaded /m);
        const warning = r.stdout.split('\n').find((l) => l.startsWith('  warning: server.tls.cert'));
        assert.ok(warning, r.stdout);
        assert.match(warning, pattern);
        const logged = gw.output.join('').split('\n').filter((l) => l.includes('the TLS certificate is not valid now'));
        assert.equal(logged.length, 1, gw.output.join(''));
        assert.match(JSON.parse(logged[0]).warning, pattern);
        // Served all the same, as the warning says.
        const tlsPort = Number(/"listener":"smtps","host":"127\.0\.0\.1","port":(\d+)/.exec(gw.output.join(''))![1]);
        assert.equal((await servedCertificate(tlsPort)).subject.CN, `${path.basename(pick().cert, '.crt')}.test`);
      });
    }

    it('onto a valid certificate prints no warning', async () => {
      const r = await moat(['reload', '--config', gw.configFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /warning/);
    });
  });
});

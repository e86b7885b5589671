// A gateway that cannot start leaves nothing behind: no port taken, no control socket, no process hanging on; and a
// certificate it cannot use is a start-up error naming the key and file, not a failed handshake on the first STARTTLS.
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { stringify } from 'yaml';
import { startGateway } from '../../helpers/gateway.ts';
import { createGateway } from '../../../core/gateway.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { freePort } from '../../helpers/ports.ts';
import { endChild, holdUntilExit } from '../../helpers/leftovers.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function occupy(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function selfSigned(dir: string, name: string, days = 30): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', String(days),
    '-subj', `/CN=${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

describe('gateway start failures', function () {
  this.timeout(30_000);
  let dir: string;
  let end: () => void;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-life-'));
    end = holdUntilExit({ dir });
  });
  afterEach(() => end());

  it('releases the listeners it opened when a later one cannot bind, and the data_dir for the next start', async () => {
    const first = await freePort();
    const busyPort = await freePort();
    const busy = await occupy(busyPort);
    try {
      await assert.rejects(
        startGateway({ dataDir: dir, config: { server: { listen: [`127.0.0.1:${first}`], submission_listen: [`127.0.0.1:${busyPort}`] } } }),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busyPort}.*EADDRINUSE`),
      );
      assert.ok(await canListen(first), 'the listener that did bind is closed again');
    } finally { busy.close(); }
    const gw = await startGateway({ dataDir: dir });
    await gw.stop();
  });

  it('keeps data_dir private to the gateway\'s user: made 0700 when created, and closed when it was open', async () => {
    // Queued mail, queue.key and the users file had been readable by every local user (0755 folders, 0644 files).
    chmodSync(dir, 0o755);
    const fresh = path.join(dir, 'nested', 'data');
    for (const dataDir of [dir, fresh]) {
      const gw = await startGateway({ dataDir });
      try {
        assert.equal(statSync(dataDir).mode & 0o777, 0o700, dataDir);
        assert.equal(gw.logs.some((r) => r.msg === 'data_dir made private to the gateway\'s user'), dataDir === dir);
      } finally { await gw.stop(); }
    }
  });

  it('warns when no listener is configured: the gateway then only delivers its queue', async () => {
    const logs: { msg?: unknown; level?: unknown }[] = [];
    const config = await validateConfig({ server: { listen: [] }, data_dir: dir, log: { level: 'info', format: 'json' } });
    const gw = await createGateway({ config, logSink: { write() {} }, onLog: (r) => { logs.push(r); } });
    try {
      assert.equal(gw.listeners.length, 0);
      assert.ok(logs.some((r) => r.level === 'warn' && /no listener configured/.test(String(r.msg))), JSON.stringify(logs.map((r) => r.msg)));
    } finally { await gw.stop(); }
  });

  it('`moat start` exits 1 at once when a listen address is taken, instead of running half-started', async () => {
    const first = await freePort();
    const busyPort = await freePort();
    const busy = await occupy(busyPort);
    const config = path.join(dir, 'mailmoat.yaml');
    writeFileSync(config, stringify({ server: { listen: [`127.0.0.1:${first}`, `127.0.0.1:${busyPort}`] }, data_dir: dir, log: { level: 'warn' } }));
    const child = spawn(process.execPath, [MOAT, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      const code = await new Promise<number | null>((resolve) => {
        child.once('exit', (c) => resolve(c));
        setTimeout(() => resolve(-1), 8_000).unref();
      });
      assert.equal(code, 1, `exit code (-1: still running after 8 s); stderr: ${stderr}`);
      assert.match(stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busyPort}`));
    } finally {
      await endChild(child, 1000);
      busy.close();
    }
  });

  it('refuses a certificate without its key, a missing file, and a key that does not match, naming them', async () => {
    const a = selfSigned(dir, 'a');
    const b = selfSigned(dir, 'b');
    const tries: Array<[Record<string, string>, RegExp]> = [
      [{ cert: a.cert }, /server\.tls: cert and key must be set together/],
      [{ cert: a.cert, key: path.join(dir, 'missing.key') }, /server\.tls\.key: cannot read .*missing\.key: ENOENT/],
      [{ cert: a.cert, key: b.key }, /server\.tls \(cert .*a\.crt, key .*b\.key\): not a usable certificate and key: .*mismatch/],
    ];
    for (const [tls, expected] of tries) {
      await assert.rejects(startGateway({ dataDir: dir, config: { server: { tls } } }), expected);
    }
    // Nothing of those attempts holds the data_dir.
    const gw = await startGateway({ dataDir: dir, config: { server: { tls: a } } });
    await gw.stop();
  });

  it('moat check-config finds the same certificate problems, and takes paths relative to the config file', () => {
    selfSigned(dir, 'c');
    selfSigned(dir, 'd');
    const check = (tls: Record<string, string>) => {
      const file = path.join(dir, 'check.yaml');
      writeFileSync(file, stringify({ server: { tls } }));
      try {
        return { code: 0, out: execFileSync(process.execPath, [MOAT, 'check-config', '--config', file], { encoding: 'utf8', stdio: 'pipe', cwd: os.tmpdir() }) };
      } catch (e) {
        return { code: (e as { status: number }).status, out: String((e as { stderr: string }).stderr) };
      }
    };
    assert.equal(check({ cert: 'c.crt', key: 'c.key' }).code, 0, 'a matching pair, named relative to the config file');
    const mismatch = check({ cert: 'c.crt', key: 'd.key' });
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.out, /^  server\.tls \(cert .*c\.crt, key .*d\.key\): .*mismatch/m);
    assert.match(check({ key: 'c.key' }).out, /cert and key must be set together/);
  });

  it('keeps the generated key private and replaces a self-signed certificate that is about to expire', async () => {
    const first = await startGateway({ dataDir: dir });
    await first.stop();
    const keyFile = path.join(dir, 'tls', 'self-signed.key');
    const certFile = path.join(dir, 'tls', 'self-signed.crt');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(dir, 'tls')).mode & 0o777, 0o700);
    // A pair ending tomorrow, as a ten-year-old one would be.
    rmSync(keyFile); rmSync(certFile);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=old', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
    const second = await startGateway({ dataDir: dir });
    await second.stop();
    const cert = new X509Certificate(readFileSync(certFile));
    assert.ok(new Date(cert.validTo).getTime() > Date.now() + 365 * 86_400_000, `renewed, valid until ${cert.validTo}`);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  });
});

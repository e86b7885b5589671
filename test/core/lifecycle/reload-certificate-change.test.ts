// A certificate renewal changes no config key: certbot swaps the symbolic links under live/, other tools write the new
// files over the old ones. The reload that serves it must say so, in its log line and in what `moat reload` prints;
// and a reload refused for a certificate says why in the same `errors` list as any other refusal.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requestConfigReload } from '../../../core/control/client.ts';
import { socketPath, type ReloadReport } from '../../../core/control/protocol.ts';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { logLines } from '../../helpers/spawned-log.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendOneMessage } from './one-message.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

/** A self-signed EC certificate for `cn` and its key, in `dir`/`cn`/. */
function makeCertificate(dir: string, cn: string): { cert: string; key: string; sha256: string; notAfter: string } {
  const folder = path.join(dir, cn);
  mkdirSync(folder);
  const cert = path.join(folder, 'cert.pem');
  const key = path.join(folder, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const x = new X509Certificate(readFileSync(cert));
  return { cert, key, sha256: x.fingerprint256, notAfter: new Date(x.validTo).toISOString() };
}

/** Points `link` at `target` in one step, as certbot renews: a new link renamed over the old. */
function swapLink(link: string, target: string): void {
  symlinkSync(target, `${link}.new`);
  renameSync(`${link}.new`, link);
}

/** What `moat reload --config FILE` prints, and its exit code. */
function moatReload(configFile: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MOAT, 'reload', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

type Reloaded = Extract<ReloadReport, { reloaded: true }>;

describe('lifecycle: a reload that serves another certificate', function () {
  this.timeout(60_000);
  let dir: string;
  let endDir: () => void;
  let gw: SpawnedGateway;
  let reload: () => Promise<ReloadReport>;
  const first = () => ({ cert: path.join(dir, 'live', 'cert.pem'), key: path.join(dir, 'live', 'key.pem') });
  let certs: Record<'one' | 'two', ReturnType<typeof makeCertificate>>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-cert-change-'));
    endDir = holdUntilExit({ dir });
    certs = { one: makeCertificate(dir, 'one.test'), two: makeCertificate(dir, 'two.test') };
    mkdirSync(path.join(dir, 'live'));
    symlinkSync(certs.one.cert, first().cert);
    symlinkSync(certs.one.key, first().key);
    gw = await spawnGateway({ config: { server: { tls: first() } } });
    reload = () => requestConfigReload(socketPath(gw.dataDir));
  });
  after(async () => {
    await gw?.kill();
    endDir?.();
  });

  const reloadedLines = () => logLines(gw).filter((l) => l.msg === 'config reloaded');

  it('names nothing when the certificate is the one served before', async () => {
    const report = await reload() as Reloaded;
    assert.equal(report.reloaded, true);
    assert.equal(report.certificate, undefined);
    const line = await waitFor('the reload line', () => reloadedLines()[0]);
    assert.equal(line.certificate, undefined);
  });

  it('names the certificate a symbolic link swap brought: CN, SHA-256 fingerprint, not-after', async () => {
    swapLink(first().cert, certs.two.cert);
    swapLink(first().key, certs.two.key);
    const report = await reload() as Reloaded;
    assert.equal(report.reloaded, true, JSON.stringify(report));
    assert.deepEqual(report.changed, []);
    assert.deepEqual(report.certificate, { cn: 'two.test', sha256: certs.two.sha256, notAfter: certs.two.notAfter });
    const line = await waitFor('the second reload line', () => reloadedLines()[1]);
    assert.deepEqual(line.certificate, { cn: 'two.test', sha256: certs.two.sha256, not_after: certs.two.notAfter, replaced_sha256: certs.one.sha256 });
  });

  it('names one written over the same file, and moat reload prints it', async () => {
    // The files the links point at, written over in place.
    copyFileSync(certs.one.cert, certs.two.cert);
    copyFileSync(certs.one.key, certs.two.key);
    const printed = await moatReload(gw.configFile);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^ {2}changed: no config key; the TLS certificate files hold another certificate$/m);
    assert.ok(printed.stdout.includes(`\n  certificate: now serving CN=one.test, SHA-256 ${certs.one.sha256}, not after ${certs.one.notAfter}\n`), printed.stdout);
    const line = await waitFor('the third reload line', () => reloadedLines()[2]);
    assert.deepEqual(line.certificate, { cn: 'one.test', sha256: certs.one.sha256, not_after: certs.one.notAfter, replaced_sha256: certs.two.sha256 });
  });

  it('refuses a key that does not match with `errors`, a list, as every refusal line has it', async () => {
    swapLink(first().key, makeCertificate(dir, 'three.test').key);
    const report = await reload();
    assert.equal(report.reloaded, false);
    const line = await waitFor('the refusal line', () => logLines(gw).find((l) => l.msg === 'config reload refused: the running config is kept'));
    assert.equal(line.error, undefined);
    assert.ok(Array.isArray(line.errors), JSON.stringify(line));
    assert.deepEqual(line.errors, (report as Extract<ReloadReport, { reloaded: false }>).errors);
    assert.match(String((line.errors as string[])[0]), /mismatch|does not match/i);
    const reply = await sendOneMessage(gw.port, 'after the refused reload');
    assert.equal(reply.code, 250, reply.text);
  });
});

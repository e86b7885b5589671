// Whether the hop to the next host was encrypted, on the delivery line, as Postfix logs `Verified TLS connection
// established to …: TLSv1.3 with cipher …`: `tls: { protocol, cipher, verified }`, or `tls: none` in plaintext.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { sendMail } from '../queue/send.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/**
 * A self-signed certificate for 127.0.0.1, made by openssl in `dir`: given as `tls_ca_file` it is its own trust
 * anchor (verified); without it no trusted CA vouches for it.
 */
function certificates(dir: string): { caFile: string; key: Buffer; cert: Buffer } {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'hop.key', '-out', 'hop.pem', '-days', '2',
    '-subj', '/CN=backend', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  return { caFile: path.join(dir, 'hop.pem'), key: readFileSync(path.join(dir, 'hop.key')), cert: readFileSync(path.join(dir, 'hop.pem')) };
}

describe('relay: the delivery line says how the hop was encrypted', function () {
  this.timeout(30_000);
  let dir: string;
  let certs: ReturnType<typeof certificates>;
  let sink: Smarthost | undefined;
  let gw: TestGateway | undefined;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-hop-tls-'));
    certs = certificates(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => { await gw?.stop(); gw = undefined; await sink?.stop(); sink = undefined; });

  async function deliveredLine(smarthost: Record<string, unknown> | string): Promise<Record<string, unknown>> {
    gw = await startGateway({ config: { smarthost } });
    assert.equal((await sendMail(gw.port, { from: 'sender@client.example', to: ['user@example.com'] })).code, 250);
    await sink!.waitFor(1);
    return waitFor('the delivered line', () => gw!.logs.find((l) => l.msg === 'delivered'));
  }

  it('STARTTLS with a certificate tls_ca_file vouches for: protocol, cipher, verified', async () => {
    sink = await startSmarthost({ tls: { key: certs.key, cert: certs.cert } });
    const line = await deliveredLine({ url: `smtp://127.0.0.1:${sink.port}`, starttls: 'required', tls_verify: true, tls_ca_file: certs.caFile });
    const tls = line.tls as { protocol: string; cipher: string; verified: boolean };
    assert.match(tls.protocol, /^TLSv1\.[23]$/);
    assert.match(tls.cipher, /^TLS_|^ECDHE-/);
    assert.equal(tls.verified, true);
  });

  it('opportunistic STARTTLS with a certificate no trusted CA signed: verified false', async () => {
    sink = await startSmarthost({ tls: { key: certs.key, cert: certs.cert } });
    const line = await deliveredLine({ url: `smtp://127.0.0.1:${sink.port}`, starttls: 'opportunistic', tls_verify: true });
    const tls = line.tls as { protocol: string; verified: boolean };
    assert.match(tls.protocol, /^TLSv1\.[23]$/);
    assert.equal(tls.verified, false);
  });

  it('a next hop without STARTTLS: tls none', async () => {
    sink = await startSmarthost();
    const line = await deliveredLine(`smtp://127.0.0.1:${sink.port}`);
    assert.equal(line.tls, 'none');
  });
});

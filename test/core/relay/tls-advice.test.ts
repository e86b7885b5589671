// A smarthost certificate no trusted CA vouches for is refused with what an admin can change (tls_ca_file,
// tls_verify), not Node's advice to restart it with --use-system-ca: seen in the log and in `moat queue list`. A real
// STARTTLS smarthost with a self-signed certificate made by openssl.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { moatQueue } from '../queue/moat-queue.ts';
import { sendMail } from '../queue/send.ts';

describe('relay: advice on a certificate that does not verify', function () {
  this.timeout(30_000);
  let dir: string;
  let sink: Smarthost;
  let gw: TestGateway | undefined;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-tls-advice-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'self.key', '-out', 'self.pem', '-days', '2',
      '-subj', '/CN=self-signed test smarthost', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2',
      '-subj', '/CN=Some other CA'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    sink = await startSmarthost({ tls: { key: readFileSync(path.join(dir, 'self.key')), cert: readFileSync(path.join(dir, 'self.pem')) } });
  });
  afterEach(async () => { await gw?.stop(); gw = undefined; await sink.stop(); });

  const deferredReply = async (extra: Record<string, unknown>) => {
    gw = await startGateway({ config: { smarthost: { url: `smtp://127.0.0.1:${sink.port}`, starttls: 'required', ...extra } } });
    const g = gw;
    const sent = await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com'] });
    await waitUntil('the deferral', () => g.logs.some((l) => l.msg === 'deferred' && l.qid === sent.queueId));
    const list = await moatQueue(g.dataDir, 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /use-system-ca|Node\.js with/);
    return { reply: String(g.logs.find((l) => l.msg === 'deferred' && l.qid === sent.queueId)!.reply), list: list.stdout };
  };

  it('a self-signed certificate: name it in tls_ca_file, or set tls_verify: false', async () => {
    const { reply, list } = await deferredReply({});
    assert.match(reply, /self-signed certificate \(its CA is in neither the system store nor Node's CA list: name the CA \(or this certificate\) in tls_ca_file, or set tls_verify: false to take the certificate unchecked\)$/);
    assert.ok(list.includes(reply), list);
    assert.equal(sink.messages.length, 0);
  });

  it('a tls_ca_file without its CA: add it there, or set tls_verify: false', async () => {
    const { reply } = await deferredReply({ tls_ca_file: path.join(dir, 'other.pem') });
    assert.match(reply, new RegExp(`\\(its CA is not in tls_ca_file ${path.join(dir, 'other.pem').replace(/[.]/g, '\\.')}: add the CA to that file, or set tls_verify: false to take the certificate unchecked\\)$`));
    assert.equal(sink.messages.length, 0);
  });

  it('with the certificate named in tls_ca_file the message goes', async () => {
    gw = await startGateway({ config: { smarthost: { url: `smtp://127.0.0.1:${sink.port}`, starttls: 'required', tls_ca_file: path.join(dir, 'self.pem') } } });
    await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'] });
    await sink.waitFor(1);
    assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['u@example.com']]);
  });
});

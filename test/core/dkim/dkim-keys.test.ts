// DKIM keys: a key that cannot sign refuses the start (and a reload, which keeps the running key), naming its file;
// `moat dkim keygen` writes a key only its owner reads and a record that verifies; a retry sends the same signature.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { DkimSigner } from '../../../core/dkim/outgoing.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { testMessage } from '../../helpers/smtp-dialog.ts';
import type { DnsTestServer } from '../../helpers/dns-server.ts';
import { keyDir, newKey, publish, sendAsAlice, verify, type KeyDir } from './dkim-setup.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const run = promisify(execFile);

const dkimConfig = (file: string, selector = 's1') => ({ domains: { 'example.com': { selector, key_file: file } } });

async function sendSigned(gw: RelayingGateway, subject: string): Promise<Buffer> {
  await sendAsAlice(gw.port, { from: 'alice@example.com', to: ['friend@far.test'], subject });
  return Buffer.from(await gw.sink.waitForText(subject), 'latin1');
}

describe('DKIM keys (core/dkim)', function () {
  this.timeout(60_000);
  let keys: KeyDir;
  let dns: DnsTestServer | undefined;
  let gw: RelayingGateway | undefined;

  beforeEach(() => { keys = keyDir(); });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
    await dns?.stop();
    dns = undefined;
    keys.remove();
  });

  for (const [what, write] of [
    ['a missing key file', () => undefined],
    ['a file that is no key', (f: string) => writeFileSync(f, 'not a key\n')],
  ] as const) {
    it(`${what} refuses the start, naming the file`, async () => {
      const file = path.join(keys.dir, 'bad.key');
      write(file);
      await assert.rejects(startRelayingGateway({ config: { dkim: dkimConfig(file) } }), (e: Error & { issues?: Array<{ path: string; message: string }> }) => {
        const issue = e.issues?.find((i) => i.path === 'dkim.domains.example.com.key_file');
        assert.ok(issue, String(e));
        assert.ok(issue.message.includes(file), issue.message);
        return true;
      });
    });
  }

  it('an RSA key under 1024 bits is refused as too short', async () => {
    const file = path.join(keys.dir, 'short.key');
    await run(process.execPath, ['-e', `const c=require('node:crypto');require('node:fs').writeFileSync(${JSON.stringify(file)}, c.generateKeyPairSync('rsa',{modulusLength:768}).privateKey.export({type:'pkcs8',format:'pem'}))`]);
    await assert.rejects(validateConfig({ dkim: dkimConfig(file) }), /768-bit RSA key/);
  });

  it('a reload with a bad key is refused and the running key goes on signing', async () => {
    const good = newKey(keys.dir, 'good.key');
    dns = await publish('example.com', { s1: good.record });
    gw = await startRelayingGateway({ config: { dkim: dkimConfig(good.file) } });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
    const bad = path.join(keys.dir, 'bad.key');
    writeFileSync(bad, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const running = gw.gateway.runtime.config;
    const withKey = (selector: string, file: string) => ({ ...running, dkim: { ...running.dkim, ...dkimConfig(file, selector) } });
    assert.equal(await gw.gateway.reload(withKey('s2', bad)), false);
    assert.ok(gw.logs.some((l) => l.msg === 'config reload refused: the running config is kept' && JSON.stringify(l.errors).includes(bad)));
    assert.ok(!gw.logs.some((l) => JSON.stringify(l).includes('AAAA')), 'no key material in the log');
    assert.deepEqual((await verify(await sendSigned(gw, 'after refused reload'), dns)).map((v) => `${v.selector} ${v.result}`), ['s1 pass']);
    // A reload with a good new key signs with it from then on.
    const next = newKey(keys.dir, 'next.key');
    await dns.setRecords({ 'example.com': { 's2._domainkey': { TXT: [next.record] } } });
    assert.equal(await gw.gateway.reload(withKey('s2', next.file)), true);
    assert.deepEqual((await verify(await sendSigned(gw, 'after good reload'), dns)).map((v) => `${v.selector} ${v.result}`), ['s2 pass']);
  });

  for (const type of ['rsa', 'ed25519'] as const) {
    it(`moat dkim keygen (${type}) writes a key of mode 0600 whose printed record verifies the mail it signs`, async () => {
      const file = path.join(keys.dir, `example.com.k${type}.key`);
      const { stdout } = await run(process.execPath, [MOAT, 'dkim', 'keygen', 'example.com', `k${type}`, '--type', type, '--out', file]);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const line = /^k(rsa|ed25519)\._domainkey\.example\.com\. IN TXT (.+)$/m.exec(stdout);
      assert.ok(line, stdout);
      const record = [...line[2].matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
      assert.match(record, new RegExp(`^v=DKIM1; k=${type}; p=`));
      dns = await publish('example.com', { [`k${type}`]: record });
      gw = await startRelayingGateway({ config: { dkim: dkimConfig(file, `k${type}`) } });
      new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
      assert.deepEqual((await verify(await sendSigned(gw, `keygen ${type}`), dns)).map((v) => v.result), ['pass']);
    });
  }

  for (const mode of [0o644, 0o660]) {
    it(`a key file of mode 0${mode.toString(8)} is refused by moat check-config and at start, with the reason and the fix`, async () => {
      const { file } = newKey(keys.dir, `open-${mode.toString(8)}.key`);
      chmodSync(file, mode);
      const config = path.join(keys.dir, 'mailmoat.yaml');
      writeFileSync(config, `data_dir: ./data\ndkim:\n  domains:\n    example.com: { selector: s1, key_file: ${file} }\n`);
      const checked = await run(process.execPath, [MOAT, 'check-config', '--config', config]).then(() => ({ code: 0, out: '' }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }));
      assert.equal(checked.code, 1, checked.out);
      const who = mode & 0o004 ? 'read or written by other users' : 'written by its group';
      assert.ok(checked.out.includes(`dkim.domains.example.com.key_file: ${file} (mode 0${mode.toString(8)}) may be ${who}: a DKIM private key must be readable by its owner (and at most its group) alone; chmod 600 ${file}`), checked.out);
      assert.ok(!checked.out.includes('BEGIN'), 'no key material in the output');
      await assert.rejects(startRelayingGateway({ config: { dkim: dkimConfig(file) } }), (e: Error & { issues?: Array<{ path: string; message: string }> }) => {
        assert.match(e.issues?.find((i) => i.path === 'dkim.domains.example.com.key_file')?.message ?? String(e), /may be (read or written by other users|written by its group).*chmod 600/);
        return true;
      });
      // Readable by its owner and group only (a root-owned key the gateway's group reads), the same file passes.
      chmodSync(file, 0o640);
      const { stdout } = await run(process.execPath, [MOAT, 'check-config', '--config', config]);
      assert.match(stdout, /OK/);
    });
  }

  it('keygen --out into a folder that does not exist names the folder and makes nothing', async () => {
    const missing = path.join(keys.dir, 'no-such-folder');
    const file = path.join(missing, 'example.com.s1.key');
    await assert.rejects(run(process.execPath, [MOAT, 'dkim', 'keygen', 'example.com', 's1', '--out', file]), (e: { code: number; stdout: string; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.equal(e.stderr.trim(), `cannot write ${file}: the folder ${missing} does not exist (create it, mode 0700, or choose another --out)`);
      assert.equal(e.stdout, '', 'no record printed for a key that was not written');
      return true;
    });
    assert.ok(!existsSync(missing));
  });

  it('keygen never writes over an existing file', async () => {
    const file = path.join(keys.dir, 'taken.key');
    writeFileSync(file, 'in use\n');
    await assert.rejects(run(process.execPath, [MOAT, 'dkim', 'keygen', 'example.com', 's1', '--out', file]), /EEXIST/);
  });

  it('signing the same entry again (a retry) gives the very same field', async () => {
    const key = newKey(keys.dir, 'retry.key');
    const cfg = (await validateConfig({ dkim: dkimConfig(key.file) })).dkim;
    const signer = new DkimSigner(cfg);
    const bytes = Buffer.from(testMessage({ from: 'alice@example.com', subject: 'retry' }));
    const entry = { id: 'retry1', dkim: 'example.com', receivedAt: Date.now() - 3_600_000 } as QueueEntry;
    const sent = async () => {
      const s = await signer.sign(entry, () => Readable.from([bytes]));
      const chunks: Buffer[] = [];
      for await (const c of s.message()) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('latin1');
    };
    const first = await sent();
    assert.match(first, /^DKIM-Signature: /);
    assert.match(first, new RegExp(`t=${Math.floor(entry.receivedAt / 1000)};`), 't= is the time the message was received');
    assert.equal(await sent(), first);
  });
});

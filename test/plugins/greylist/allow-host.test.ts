// `moat greylist allow` run as an admin runs it, beside a real gateway on the same data_dir: an address with /32 is
// allowed alone (not its /24), other prefixes are refused with what to give instead, and clients from several loopback
// addresses see exactly what was allowed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

/** The RCPT reply code of one session from `ip`. */
async function rcptFrom(port: number, ip: string, from: string, to: string): Promise<number> {
  const c = await SmtpDialog.connect(port, '127.0.0.1', { localAddress: ip });
  try {
    assert.equal((await c.hello()).code, 250);
    assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250);
    return (await c.cmd(`RCPT TO:<${to}>`)).code;
  } finally {
    await c.quit();
  }
}

describe('moat greylist allow: one address or one network, as asked', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let config: string;
  before(async () => {
    gw = await startGateway({ config: { plugins: [{ name: 'greylist', delay: '1h', remember: '1d' }] } });
    config = path.join(gw.dataDir, 'mailmoat.yaml');
    writeFileSync(config, `data_dir: ${gw.dataDir}\nplugins:\n  - name: greylist\n    remember: 1d\n`);
  });
  after(() => gw?.stop());

  function moat(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [MOAT, 'greylist', ...args, '--config', config], { cwd: os.tmpdir() }, (error, out, err) => {
        resolve({ code: error ? Number(error.code) : 0, out, err });
      });
    });
  }

  it('allows an address given with /32 alone: its neighbours in the /24 are still greylisted', async () => {
    const r = await moat('allow', '127.0.7.5/32');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'allowed 127.0.7.5/32 for 1d');
    assert.equal(await rcptFrom(gw.port, '127.0.7.5', 'a@sender.test', 'one@example.com'), 250);
    assert.equal(await rcptFrom(gw.port, '127.0.7.6', 'a@sender.test', 'one@example.com'), 451, 'another address of the /24');
    const list = await moat('list', '--passed');
    assert.match(list.out, /^passed\s+127\.0\.7\.5\/32 \(any sender, any recipient\)\s+passed .* by admin/m);
  });

  it('gives ::1/128 as itself, not ::/64', async () => {
    const r = await moat('allow', '::1/128');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'allowed ::1/128 for 1d');
  });

  it('takes an address without a prefix as its /24, and says so', async () => {
    const r = await moat('allow', '127.0.8.9');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'allowed 127.0.8.0/24 for 1d');
    assert.equal(r.err.trim(), 'note: 127.0.8.9 stands for its client network 127.0.8.0/24 (ipv4_mask 24); give 127.0.8.9/32 to allow that address alone');
    assert.equal(await rcptFrom(gw.port, '127.0.8.200', 'b@sender.test', 'two@example.com'), 250);
  });

  it('refuses a prefix the gateway never looks up, naming what to give instead, and writes nothing', async () => {
    const r = await moat('allow', '127.0.9.5/28');
    assert.equal(r.code, 64);
    assert.equal(r.out, '');
    assert.equal(r.err.trim(), '127.0.9.5/28: clients are remembered by /24 networks (ipv4_mask); give that network (127.0.9.0/24), one address as 127.0.9.5/32, or list other ranges in skip_ips');
    assert.equal(await rcptFrom(gw.port, '127.0.9.5', 'c@sender.test', 'three@example.com'), 451);
  });

  it('refuses one address for a triplet, which is kept under its network', async () => {
    const r = await moat('allow', '127.0.10.5/32', 'd@sender.test', 'four@example.com');
    assert.equal(r.code, 64);
    assert.match(r.err, /^127\.0\.10\.5\/32: a triplet is remembered by its client network \(ipv4_mask 24\), so it cannot be allowed for one address; give 127\.0\.10\.5 or 127\.0\.10\.0\/24/);
    assert.equal(await rcptFrom(gw.port, '127.0.10.5', 'd@sender.test', 'four@example.com'), 451);
  });

  it('purge --client with the /32 removes that address\'s entry only, not its network\'s waiting triplets', async () => {
    const r = await moat('purge', '--client', '127.0.7.5/32');
    assert.equal(r.out.trim(), 'removed 1 entries of 127.0.7.5/32');
    assert.match((await moat('list', '--waiting')).out, /^waiting\s+127\.0\.7\.0\/24 a@sender\.test -> one@example\.com/m);
    assert.equal(await rcptFrom(gw.port, '127.0.7.5', 'e@sender.test', 'five@example.com'), 451);
  });
});

// Password guessing on submission: after limits.max_auth_failures failed logins, an address gets 454 for AUTH, without
// a password check, until it has been quiet for limits.auth_failure_block; a successful login clears its count.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { AuthFailures } from '../../../core/auth/auth-failures.ts';

const plain = (u: string, p: string) => `AUTH PLAIN ${Buffer.from(`\0${u}\0${p}`).toString('base64')}`;

describe('failed AUTH per address', function () {
  this.timeout(30_000);
  let scratch: string;
  let gw: TestGateway;
  before(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'mm-authfail-'));
    const usersFile = path.join(scratch, 'users');
    new UsersFile(usersFile).add('alice', 'right-password');
    gw = await startGateway({
      config: {
        server: { submission_listen: ['127.0.0.1:0'] }, auth: { users_file: usersFile },
        limits: { max_errors: 20, max_auth_failures: 3, auth_failure_block: '3s' },
      },
    });
  });
  after(async () => { await gw?.stop(); rmSync(scratch, { recursive: true, force: true }); });

  async function session(): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.gateway.port('submission'));
    await d.hello();
    assert.equal((await d.starttls()).code, 220);
    await d.cmd('EHLO guesser.test');
    return d;
  }

  it('refuses AUTH with 454 after the third failure, even the right password, on a new connection too, until the block ends', async () => {
    const d = await session();
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await d.cmd(plain('alice', `guess-${i}`))).code);
    const refused = await d.cmd(plain('alice', 'right-password'));
    assert.deepEqual([...codes, refused.code], [535, 535, 535, 454]);
    assert.match(refused.text, /4\.7\.0 Too many failed authentications/);
    d.hangUp();
    const again = await session();
    assert.equal((await again.cmd(plain('alice', 'right-password'))).code, 454);
    // A fixed ban: the tries made while it runs do not lengthen it.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await again.cmd(plain('alice', 'right-password'))).code, 454);
    await new Promise((r) => setTimeout(r, 2300));
    assert.equal((await again.cmd(plain('alice', 'right-password'))).code, 235, 'the ban is over: the right password passes');
    again.hangUp();
    // The login cleared the count: two more mistakes do not reach the limit.
    const later = await session();
    assert.deepEqual([(await later.cmd(plain('alice', 'typo-1'))).code, (await later.cmd(plain('alice', 'typo-2'))).code], [535, 535]);
    assert.equal((await later.cmd(plain('alice', 'right-password'))).code, 235);
    later.hangUp();
    assert.ok(gw.logs.some((l) => l.msg === 'authentication refused: too many failures from this address' && l.client === '127.0.0.1'));
    assert.ok(gw.logs.every((l) => !/guess-|typo-|right-password/.test(JSON.stringify(l))), 'no password in the log');
  });

  it('never locks out relay.networks: a mistyped password there must not stop everyone behind that address', async () => {
    const usersFile = path.join(scratch, 'users');
    const ours = await startGateway({
      config: { server: { submission_listen: ['127.0.0.1:0'] }, auth: { users_file: usersFile }, relay: { networks: ['127.0.0.0/8'] }, limits: { max_auth_failures: 1 } },
    });
    try {
      const d = await SmtpDialog.connect(ours.gateway.port('submission'));
      await d.hello();
      await d.starttls();
      await d.cmd('EHLO office.test');
      assert.deepEqual([(await d.cmd(plain('alice', 'typo-a'))).code, (await d.cmd(plain('alice', 'typo-b'))).code], [535, 535]);
      assert.equal((await d.cmd(plain('alice', 'right-password'))).code, 235);
      d.hangUp();
    } finally { await ours.stop(); }
  });

  it('forgets addresses whose failures have expired, however many guessers came by', () => {
    let now = 0;
    const f = new AuthFailures(() => now);
    for (let i = 0; i < 20_000; i++) { f.failed(`198.18.${i >> 8 & 255}.${i & 255}`, 1000); now += 10; }
    // About 100 addresses are within their block at any time; the rest wait at most one sweep.
    assert.ok(f.size <= 2048, `addresses held: ${f.size}`);
    assert.equal(f.refused('198.18.78.31', 1), true, 'the latest guesser is still counted');
    assert.equal(f.refused('198.18.0.1', 1), false, 'an early one is forgotten');
    assert.equal(f.refused('198.18.78.31', 0), false, 'a limit of 0 refuses nobody');
  });
});

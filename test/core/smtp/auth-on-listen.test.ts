// server.auth_on_listen through a real gateway: with false, the `listen` port (the MX) lists no AUTH before or after
// STARTTLS and answers AUTH with Postfix's 503 5.5.1 before asking for any credentials, counted as an error; the
// submission listener still takes logins, and a reload turns it back on. The default, true, offers it as before.
import assert from 'node:assert/strict';
import path from 'node:path';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { plainAuth } from './submission-auth.ts';

const NOT_ENABLED = '503 5.5.1 Error: authentication not enabled';

async function start(server: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startGateway({ config: { server: { submission_listen: ['127.0.0.1:0'], greeting_delay: 0, ...server }, limits: { max_errors: 3 } } });
  new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  return gw;
}

/** A session on `port` through STARTTLS (the gateway's own certificate) and a second EHLO; the EHLO lines before and after. */
async function secured(port: number): Promise<{ d: SmtpDialog; before: string[]; after: string[] }> {
  const d = await SmtpDialog.connect(port);
  const first = await d.hello();
  assert.equal(first.code, 250);
  assert.equal((await d.starttls()).code, 220);
  const second = await d.cmd('EHLO client.test');
  assert.equal(second.code, 250);
  return { d, before: first.lines, after: second.lines };
}

const offersAuth = (lines: string[]) => lines.some((l) => /^AUTH\b/.test(l));
const line = (r: { code: number; text: string }) => `${r.code} ${r.text}`;

describe('AUTH on the listen port (server.auth_on_listen)', function () {
  this.timeout(30_000);

  describe('false', () => {
    let gw: TestGateway;
    before(async () => { gw = await start({ auth_on_listen: false }); });
    after(() => gw.stop());

    it('lists no AUTH before or after STARTTLS, and refuses it with 503 5.5.1 before any credentials are asked for', async () => {
      const { d, before, after } = await secured(gw.port);
      try {
        assert.ok(!offersAuth(before) && !offersAuth(after), [...before, ...after].join(' | '));
        assert.ok(after.includes('PIPELINING'), after.join(' | '));
        assert.equal(line(await d.cmd(plainAuth('alice', 'right-password'))), NOT_ENABLED);
        // AUTH LOGIN without an initial response would otherwise get 334 and be sent the user name.
        assert.equal(line(await d.cmd('AUTH LOGIN')), NOT_ENABLED);
      } finally {
        await d.quit();
      }
      const refused = gw.logs.filter((l) => l.msg === 'AUTH refused: not offered on this listener');
      assert.equal(refused.length, 2);
      assert.equal(refused[0].client, '127.0.0.1');
      assert.equal(refused[0].reply, NOT_ENABLED);
    });

    it('refuses it in plaintext too, with the same reply rather than the 538 for a missing STARTTLS, and relays nothing', async () => {
      const d = await SmtpDialog.connect(gw.port);
      try {
        assert.equal((await d.hello()).code, 250);
        assert.equal(line(await d.cmd(plainAuth('alice', 'right-password'))), NOT_ENABLED);
        assert.equal((await d.cmd('MAIL FROM:<alice@example.com>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<bob@elsewhere.test>')).code, 554);
      } finally {
        await d.quit();
      }
    });

    it('counts each refusal toward limits.max_errors, so a guesser is disconnected', async () => {
      const { d } = await secured(gw.port);
      try {
        assert.equal((await d.cmd(plainAuth('alice', 'guess-1'))).code, 503);
        assert.equal((await d.cmd(plainAuth('alice', 'guess-2'))).code, 503);
        assert.equal((await d.cmd(plainAuth('alice', 'guess-3'))).code, 503, 'the refusal that reaches the limit, as it is');
        // The 421 follows at once: a fourth guess is never read.
        assert.equal(line(await d.read()), '421 4.7.0 Too many errors, closing connection');
      } finally {
        await d.quit();
      }
      // No password was checked: the refusals are not failed logins.
      assert.equal(gw.logs.filter((l) => l.msg === 'authentication failed').length, 0);
    });

    it('keeps AUTH on the submission listener', async () => {
      const { d, after } = await secured(gw.gateway.port('submission'));
      try {
        assert.ok(after.includes('AUTH PLAIN LOGIN'), after.join(' | '));
        assert.equal((await d.cmd(plainAuth('alice', 'right-password'))).code, 235);
        assert.equal((await d.cmd('MAIL FROM:<alice@example.com>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<bob@elsewhere.test>')).code, 250);
      } finally {
        await d.quit();
      }
    });

    it('offers AUTH on listen again after a reload that sets it true', async () => {
      const running = gw.gateway.runtime.config;
      try {
        assert.equal(await gw.gateway.reload({ ...running, server: { ...running.server, auth_on_listen: true } }), true);
        const { d, after } = await secured(gw.port);
        try {
          assert.ok(after.includes('AUTH PLAIN LOGIN'), after.join(' | '));
          assert.equal((await d.cmd(plainAuth('alice', 'right-password'))).code, 235);
        } finally {
          await d.quit();
        }
      } finally {
        assert.equal(await gw.gateway.reload(running), true);
      }
    });
  });

  describe('true (the default)', () => {
    let gw: TestGateway;
    before(async () => { gw = await start({}); });
    after(() => gw.stop());

    it('offers AUTH after STARTTLS only, as before the option', async () => {
      const { d, before, after } = await secured(gw.port);
      try {
        assert.ok(!offersAuth(before), before.join(' | '));
        assert.ok(after.includes('AUTH PLAIN LOGIN'), after.join(' | '));
        assert.equal((await d.cmd(plainAuth('alice', 'right-password'))).code, 235);
      } finally {
        await d.quit();
      }
    });
  });
});

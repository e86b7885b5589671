// A login the core drops is dropped for Haraka plugins too: after XCLIENT LOGIN from a trusted proxy, a later XCLIENT
// that names another client (no LOGIN) leaves the session without a user, and a plugin's connection.notes.auth_user
// must say so, or it would treat the next client as the one who logged in.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const PROXY = '127.0.0.5';

describe('haraka shim: connection.notes.auth_user follows the session\'s login', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haraka-auth-user-'));
    fs.mkdirSync(path.join(dir, 'config'));
    fs.mkdirSync(path.join(dir, 'plugins'));
    fs.writeFileSync(path.join(dir, 'config', 'plugins'), 'see_auth\n');
    // Answers each RCPT with who the connection is, as a plugin deciding on auth_user would see it.
    fs.writeFileSync(path.join(dir, 'plugins', 'see_auth.js'), `
exports.hook_rcpt = function (next, connection) {
  next(DENYSOFT, 'auth_user=' + (connection.notes.auth_user || 'none') + ' relaying=' + connection.relaying);
};
`);
    gw = await startGateway({ config: { server: { trusted_proxies: [PROXY] }, plugins: [{ name: 'haraka', dir }] } });
  });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function seen(d: SmtpDialog): Promise<string> {
    assert.equal((await d.cmd('EHLO client.test')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.test>')).code, 250);
    const r = await d.cmd('RCPT TO:<user@example.com>');
    await d.cmd('RSET');
    return r.text;
  }

  it('is the login after XCLIENT LOGIN, and none once a later XCLIENT ADDR names another client', async () => {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: PROXY });
    assert.equal((await d.read()).code, 220);
    assert.equal((await d.cmd('EHLO proxy.test')).code, 250);
    // A LOGIN alone keeps the proxy's address, and so its right to send XCLIENT again.
    assert.equal((await d.cmd('XCLIENT LOGIN=alice')).code, 220);
    assert.match(await seen(d), /auth_user=alice relaying=true/);
    assert.equal((await d.cmd('XCLIENT ADDR=198.51.100.8')).code, 220);
    assert.match(await seen(d), /auth_user=none relaying=false/);
    await d.quit();
  });
});

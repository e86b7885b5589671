// Logged in as alice, a client could send as ceo@example.com or ceo@bank.example. auth.sender_logins binds each login to
// the addresses it owns (Postfix's smtpd_sender_login_maps), and auth.enforce_sender_login refuses the rest, as
// reject_sender_login_mismatch does. A real gateway on all three listeners, a users file, a real smarthost.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { loggedInSession } from './submission-auth.ts';

const MAP = [
  '# who may send as whom',
  'alice@example.com        alice',
  'shared@example.com       alice, bob',
  '@sales.example           bob',
  '@bücher.example          carol',
].join('\n');

describe('auth.sender_logins: the sender a login may use', function () {
  this.timeout(30_000);
  let scratch: string;
  let mapFile: string;
  let gw: RelayingGateway;
  before(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'mm-sender-logins-'));
    mapFile = path.join(scratch, 'sender-logins');
    writeFileSync(mapFile, MAP + '\n');
    gw = await startRelayingGateway({
      config: {
        server: { submission_listen: ['127.0.0.1:0'], tls_listen: ['127.0.0.1:0'], greeting_delay: 0 },
        auth: { sender_logins: mapFile, enforce_sender_login: true },
      },
    });
    const users = new UsersFile(path.join(gw.dataDir, 'users'));
    for (const u of ['alice', 'bob', 'carol']) users.add(u, `${u}-password`);
  });
  after(async () => { await gw?.stop(); rmSync(scratch, { recursive: true, force: true }); });

  const loggedIn = (user: string) => loggedInSession(gw.gateway.port('submission'), user, `${user}-password`);

  /** MAIL FROM's reply, the transaction reset after it. */
  async function mailFrom(d: SmtpDialog, sender: string): Promise<{ code: number; text: string }> {
    const r = await d.cmd(`MAIL FROM:<${sender}>${/[^\x00-\x7f]/.test(sender) ? ' SMTPUTF8' : ''}`);
    await d.cmd('RSET');
    return r;
  }

  it('lets alice send as her own addresses, in any spelling, and relays the message', async () => {
    const d = await loggedIn('alice');
    for (const sender of ['alice@example.com', 'ALICE@Example.COM', 'alice+news@example.com', '"alice"@example.com', 'shared@example.com']) {
      assert.equal((await mailFrom(d, sender)).code, 250, sender);
    }
    assert.equal((await d.cmd('MAIL FROM:<alice@example.com>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<friend@elsewhere.example>')).code, 250);
    assert.equal((await d.data(testMessage({ from: 'alice@example.com', to: 'friend@elsewhere.example', subject: 'own-address' }))).code, 250);
    await d.quit();
    await gw.sink.waitForText('own-address');
  });

  it('refuses alice as ceo@example.com, ceo@bank.example or a domain that is bob\'s, with 553 5.7.1', async () => {
    const d = await loggedIn('alice');
    for (const sender of ['ceo@example.com', 'ceo@bank.example', 'anyone@sales.example']) {
      const r = await mailFrom(d, sender);
      assert.equal(r.code, 553, sender);
      assert.equal(r.text, `5.7.1 <${sender}>: Sender address rejected: not owned by user alice`);
    }
    await d.quit();
    const line = gw.logs.find((l) => l.msg === 'sender refused' && l.from === 'ceo@bank.example');
    assert.equal(line?.reason, 'auth.enforce_sender_login');
    assert.equal(line?.user, 'alice');
  });

  it('lets the null sender through: it names nobody to impersonate', async () => {
    const d = await loggedIn('alice');
    assert.equal((await mailFrom(d, '')).code, 250);
    await d.quit();
  });

  it('matches a domain entry in either IDN form, and a shared address for each of its owners', async () => {
    const carol = await loggedIn('carol');
    assert.equal((await mailFrom(carol, 'info@xn--bcher-kva.example')).code, 250);
    assert.equal((await mailFrom(carol, 'info@bücher.example')).code, 250);
    assert.equal((await mailFrom(carol, 'alice@example.com')).code, 553);
    await carol.quit();
    const bob = await loggedIn('bob');
    assert.equal((await mailFrom(bob, 'shared@example.com')).code, 250);
    assert.equal((await mailFrom(bob, 'Orders@Sales.Example')).code, 250);
    await bob.quit();
  });

  it('refuses an owned address without a login on the implicit-TLS listener, not on the MX listener', async () => {
    const smtps = await SmtpDialog.connect(gw.gateway.port('smtps'), '127.0.0.1', { tls: true });
    await smtps.hello();
    const r = await mailFrom(smtps, 'alice@example.com');
    assert.equal(r.code, 553);
    assert.equal(r.text, '5.7.1 <alice@example.com>: Sender address rejected: not logged in');
    assert.equal((await mailFrom(smtps, 'stranger@client.example')).code, 250, 'an address no login owns');
    await smtps.quit();
    // Mail from outside may carry our addresses (a forwarder): on the MX port only a login is held to its addresses.
    const mx = await SmtpDialog.connect(gw.port);
    await mx.hello();
    assert.equal((await mailFrom(mx, 'alice@example.com')).code, 250);
    await mx.quit();
  });

  it('reads the file again at a reload, and keeps the map it has when the new file is broken', async () => {
    writeFileSync(mapFile, `${MAP}\nceo@example.com alice\n`);
    assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), true);
    const d = await loggedIn('alice');
    assert.equal((await mailFrom(d, 'ceo@example.com')).code, 250, 'alice owns ceo@ now');
    writeFileSync(mapFile, 'ceo@example.com\n');
    assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), false, 'a line without a login is refused');
    assert.equal((await mailFrom(d, 'ceo@example.com')).code, 250, 'the map read last stays in use');
    assert.equal((await mailFrom(d, 'ceo@bank.example')).code, 553);
    await d.quit();
    writeFileSync(mapFile, MAP + '\n');
    assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), true);
  });

  it('only logs a mismatch while enforce_sender_login is off', async () => {
    const running = gw.gateway.runtime.config;
    assert.equal(await gw.gateway.reload(await validateConfig({ ...running, auth: { ...running.auth, enforce_sender_login: false } })), true);
    try {
      const d = await loggedIn('alice');
      assert.equal((await mailFrom(d, 'cfo@example.com')).code, 250);
      await d.quit();
      const line = gw.logs.find((l) => l.msg === 'sender login mismatch (not enforced)' && l.from === 'cfo@example.com');
      assert.equal(line?.would_reply, '553 5.7.1 <cfo@example.com>: Sender address rejected: not owned by user alice');
    } finally {
      assert.equal(await gw.gateway.reload(await validateConfig({ ...running, auth: { ...running.auth, enforce_sender_login: true } })), true);
    }
  });
});

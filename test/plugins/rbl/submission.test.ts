// A user on a home or mobile address that a policy list names (Spamhaus' PBL) must still be able to send: the README's
// own example has submission_listen beside an rbl reject zone. A real gateway with the three listeners, the loopback
// DNS server listing the client, AUTH with a users file, and a real smarthost.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { plainAuth } from '../../core/smtp/submission-auth.ts';

/** Loopback addresses the test zone lists (each test its own, so no answer comes from the resolver's cache). */
const LISTED = { mx: '127.0.0.5', submission: '127.0.0.7', smtps: '127.0.0.8', smtpsLogin: '127.0.0.9' };
const reversed = (ip: string) => ip.split('.').reverse().join('.');

describe('rbl: submission and implicit-TLS listeners', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let sink: Smarthost;
  let gw: TestGateway;
  before(async () => {
    dns = await startDnsServer({
      zones: { 'pbl.test': Object.fromEntries(Object.values(LISTED).map((ip) => [reversed(ip), { A: '127.0.0.11' }])) },
    });
    sink = await startSmarthost();
    gw = await startGateway({
      config: {
        server: { submission_listen: ['127.0.0.1:0'], tls_listen: ['127.0.0.1:0'], greeting_delay: 0 },
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'rbl', zones: [{ zone: 'pbl.test', action: 'reject' }] }],
      },
    });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  });
  after(async () => { await gw?.stop(); await sink?.stop(); await dns?.stop(); });

  /** Sends a message in an open session whose MAIL is due; the smarthost must receive it. */
  async function send(d: SmtpDialog, marker: string): Promise<void> {
    assert.equal((await d.cmd('MAIL FROM:<alice@example.com>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<friend@elsewhere.example>')).code, 250);
    const r = await d.data(testMessage({ from: 'alice@example.com', to: 'friend@elsewhere.example', subject: marker }));
    assert.equal(r.code, 250, r.text);
    await sink.waitForText(marker);
    const got = sink.messages.find((m) => m.raw.toString('latin1').includes(marker));
    assert.deepEqual(got?.rcptTo, ['friend@elsewhere.example']);
  }

  it('still refuses a listed client at the greeting on the MX listener', async () => {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: LISTED.mx });
    const greeting = await d.read();
    assert.equal(greeting.code, 554, greeting.text);
    assert.match(greeting.text, /5\.7\.1 Client 127\.0\.0\.5 is listed at pbl\.test/);
    d.hangUp();
  });

  it('greets a listed client on the submission listener, asks no list about it, and relays once it logs in', async () => {
    const d = await SmtpDialog.connect(gw.gateway.port('submission'), '127.0.0.1', { localAddress: LISTED.submission });
    assert.equal((await d.hello()).code, 250);
    assert.equal((await d.starttls()).code, 220);
    await d.cmd('EHLO laptop.test');
    // Without a login, submission refuses at MAIL whatever the lists say.
    const early = await d.cmd('MAIL FROM:<alice@example.com>');
    assert.equal(early.code, 530, early.text);
    assert.equal((await d.cmd(plainAuth('alice', 'right-password'))).code, 235);
    await send(d, 'from-submission');
    await d.quit();
    const asked = (await dns.queries()).filter((q) => q.name.startsWith(`${reversed(LISTED.submission)}.`));
    assert.deepEqual(asked, [], 'a submission client costs no blocklist query');
    assert.ok(gw.logs.some((l) => l.msg === 'blocklists skipped' && l.client === LISTED.submission && l.reason === 'submission listener'));
  });

  it('on the implicit-TLS listener, refuses a listed client at MAIL FROM unless it logged in', async () => {
    const d = await SmtpDialog.connect(gw.gateway.port('smtps'), '127.0.0.1', { localAddress: LISTED.smtps, tls: true });
    assert.equal((await d.hello()).code, 250, 'greeted: the refusal waits until a login could have come');
    const r = await d.cmd('MAIL FROM:<someone@client.example>');
    assert.equal(r.code, 554, r.text);
    assert.match(r.text, /5\.7\.1 Client 127\.0\.0\.8 is listed at pbl\.test/);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 503, 'no transaction was opened');
    await d.quit();
    const refusal = gw.logs.find((l) => l.msg === 'sender refused' && l.client === LISTED.smtps);
    assert.equal(refusal?.plugin, 'rbl');

    const u = await SmtpDialog.connect(gw.gateway.port('smtps'), '127.0.0.1', { localAddress: LISTED.smtpsLogin, tls: true });
    assert.equal((await u.hello()).code, 250);
    assert.equal((await u.cmd(plainAuth('alice', 'right-password'))).code, 235);
    await send(u, 'from-smtps');
    await u.quit();
  });

  it('lets an unlisted client on the implicit-TLS listener deliver to a local domain without a login', async () => {
    const d = await SmtpDialog.connect(gw.gateway.port('smtps'), '127.0.0.1', { localAddress: '127.0.0.6', tls: true });
    assert.equal((await d.hello()).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<someone@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.data(testMessage({ subject: 'inbound-over-smtps' }))).code, 250);
    await d.quit();
    await sink.waitForText('inbound-over-smtps');
  });
});

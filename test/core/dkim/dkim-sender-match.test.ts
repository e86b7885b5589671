// Whom the gateway signs for: logged in as alice, a client could send MAIL FROM:<alice@example.com> with
// From: ceo@b.example, and with both domains signing it would leave signed d=b.example and pass DMARC as b.example.
// As Rspamd's dkim_signing does by default, mail is signed only when its header From goes with its envelope sender
// and, with auth.sender_logins, with its login; the message's line and `moat check --user` say why not. A real
// gateway, real DNS for the keys, mailauth verifying at the receiving smarthost.
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { moat } from '../../scripts/moat-cli.ts';
import { keyDir, newKey, verify, type KeyDir } from './dkim-setup.ts';

const SENDER_LOGINS = ['alice@example.com alice', 'boss@example.com bob', '@b.example bob'].join('\n');

describe('DKIM signing: the header From must go with the envelope sender and the login', function () {
  this.timeout(60_000);
  let keys: KeyDir;
  let dns: DnsTestServer;
  let gw: RelayingGateway;

  before(async () => {
    keys = keyDir();
    const a = newKey(keys.dir, 'example.com.key');
    const b = newKey(keys.dir, 'b.example.key');
    dns = await startDnsServer({ zones: { 'example.com': { 's1._domainkey': { TXT: [a.record] } }, 'b.example': { 's1._domainkey': { TXT: [b.record] } } } });
    const logins = path.join(keys.dir, 'sender-logins');
    writeFileSync(logins, `${SENDER_LOGINS}\n`);
    gw = await startRelayingGateway({
      config: {
        relay: { networks: ['192.0.2.0/24'] },
        auth: { sender_logins: logins },
        dkim: { domains: { 'example.com': { selector: 's1', key_file: a.file }, 'b.example': { selector: 's1', key_file: b.file } } },
      },
    });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  });

  after(async () => {
    await gw?.stop();
    await dns?.stop();
    keys?.remove();
  });

  /** `raw` as alice's mail client sends it, STARTTLS then AUTH, with MAIL FROM:<mailFrom>. Returns its queue id. */
  async function sendAsAlice(mailFrom: string, raw: string): Promise<string> {
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.port, secure: false, requireTLS: true, name: 'laptop.home.test',
      tls: { rejectUnauthorized: false }, auth: { user: 'alice', pass: 'right-password' },
    });
    try {
      const info = await t.sendMail({ envelope: { from: mailFrom, to: ['friend@far.test'] }, raw });
      return /queued as (\S+)/.exec(info.response)![1];
    } finally {
      t.close();
    }
  }

  const mail = (from: string, subject: string) => testMessage({ from, to: 'friend@far.test', subject });
  const received = async (subject: string) => Buffer.from(await gw.sink.waitForText(subject), 'latin1');
  const messageLine = (qid: string) => gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
  const signatures = async (raw: Buffer) => (await verify(raw, dns)).map((v) => `${v.domain} ${v.result}`);

  it("does not sign alice's mail with a From at another signing domain than her envelope sender's, and says why", async () => {
    const qid = await sendAsAlice('alice@example.com', mail('ceo@b.example', 'header from elsewhere'));
    assert.doesNotMatch((await received('header from elsewhere')).toString('latin1'), /^DKIM-Signature:/im);
    const line = messageLine(qid);
    assert.equal(line?.dkim, undefined);
    assert.match(String(line?.dkim_not_signed), /From domain b\.example differs from the envelope sender's/);
  });

  it('does not sign mail whose envelope and From match but whose From is not the login\'s (auth.sender_logins)', async () => {
    // Not enforced at MAIL FROM (enforce_sender_login is off), so the mail goes, but never under our signature.
    const qid = await sendAsAlice('boss@example.com', mail('boss@example.com', 'not her address'));
    assert.doesNotMatch((await received('not her address')).toString('latin1'), /^DKIM-Signature:/im);
    assert.match(String(messageLine(qid)?.dkim_not_signed), /From boss@example\.com is not the login's to use \(auth\.sender_logins\)/);
  });

  it('signs her own address, and the receiver\'s check passes', async () => {
    const qid = await sendAsAlice('alice@example.com', mail('Alice <alice@example.com>', 'her own address'));
    assert.deepEqual(await signatures(await received('her own address')), ['example.com pass']);
    assert.equal(messageLine(qid)?.dkim, 'example.com/s1');
    assert.equal(messageLine(qid)?.dkim_not_signed, undefined);
  });

  it('does not sign for a relay.networks host whose From is at a signing domain its envelope sender is not', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '192.0.2.7' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<printer@other.test>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<friend@far.test>')).code, 250);
      assert.equal((await d.data(mail('ceo@b.example', 'printer as ceo'))).code, 250);
    } finally {
      await d.quit();
    }
    assert.doesNotMatch((await received('printer as ceo')).toString('latin1'), /^DKIM-Signature:/im);
  });

  it('a message of header fields only, no empty line and no body, leaves signed and verifies', async () => {
    const raw = mail('alice@example.com', 'header only').replace(/\r\n\r\n[\s\S]*$/, '\r\n');
    assert.ok(!raw.includes('\r\n\r\n'));
    await sendAsAlice('alice@example.com', raw);
    const got = await received('header only');
    assert.deepEqual(await signatures(got), ['example.com pass']);
    assert.match(got.toString('latin1'), /\r\n\r\n$/, 'the empty line that ends the header section was added');
  });

  it("moat check --user gives the gateway's reason on its DKIM line", async () => {
    const r = await moat(['check', '--set', `data_dir=${gw.dataDir}`, '-', '--user', 'alice', '--from', 'alice@example.com'], mail('ceo@b.example', 'checked').replace(/\r\n/g, '\n'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^dkim: would not sign: From domain b\.example differs from the envelope sender's \(dkim\.allow_header_from_mismatch is off\)$/m);
  });
});

// The `outbound` criterion in a real gateway: alice logs in over STARTTLS (nodemailer), other clients come by XCLIENT
// from the trusted loopback, and each recipient's copy is read where it arrives: mail for the local domains at the
// colleagues' server (a route), the rest at the smarthost. A disclaimer rule on `outbound: true` marks our users'
// mail to the world, and only that. This file is also the alias table that forwards one local address outside.
import assert from 'node:assert/strict';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { aliasPlugin } from '../../helpers/alias-plugin.ts';
import { waitFor } from '../../helpers/wait-for.ts';

export default aliasPlugin('outbound-aliases', { 'team@example.com': ['team@partner.example'] });

const FOOTER = 'Example GmbH, Berlin. This message is confidential.';

describe('plugins/rules: the outbound criterion in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  let colleagues: Smarthost;

  before(async () => {
    colleagues = await startSmarthost();
    const inside = `smtp://127.0.0.1:${colleagues.port}`;
    gw = await startRelayingGateway({ config: {
      domains: ['example.com', 'example.net'],
      routes: { 'example.com': inside, 'example.net': inside },
      relay: { networks: ['192.0.2.0/24'] },
      plugins: [
        { name: 'outbound-aliases', module: import.meta.filename },
        { name: 'rules', rules: [
          { name: 'footer', when: { outbound: true }, actions: [{ disclaimer: FOOTER }] },
          { name: 'internal', when: { outbound: false, authenticated: true }, actions: [{ add_header: { name: 'X-Internal', value: 'yes' } }] },
        ] },
      ],
    } });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  });
  after(async () => {
    await gw?.stop();
    await colleagues?.stop();
  });

  /** alice's message to `to`: STARTTLS, then AUTH, as her mail program sends it. */
  async function sendAsAlice(to: string[], subject: string): Promise<void> {
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.port, secure: false, requireTLS: true, name: 'laptop.home.test',
      tls: { rejectUnauthorized: false }, auth: { user: 'alice', pass: 'right-password' },
    });
    try {
      await t.sendMail({ envelope: { from: 'alice@example.com', to }, raw: testMessage({ from: 'alice@example.com', to: to.join(', '), subject }) });
    } finally {
      t.close();
    }
  }

  /** A message from a client without a login at `addr`, XCLIENT from the trusted loopback. */
  async function sendFrom(addr: string, mailFrom: string, to: string[], subject: string): Promise<void> {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr } })).code, 250);
      assert.equal((await d.cmd(`MAIL FROM:<${mailFrom}>`)).code, 250);
      for (const r of to) assert.equal((await d.cmd(`RCPT TO:<${r}>`)).code, 250, r);
      const reply = await d.data(testMessage({ from: mailFrom, to: to.join(', '), subject }));
      assert.equal(reply.code, 250, reply.text);
    } finally {
      await d.quit();
    }
  }

  /** The copy of the message `subject` that reached `at` (for `rcpt` when given): its envelope recipients, header section and body. */
  async function copyAt(at: Smarthost, subject: string, rcpt?: string): Promise<{ rcptTo: string[]; head: string; body: string }> {
    const m = await waitFor(`${subject} at port ${at.port}${rcpt ? ` for ${rcpt}` : ''}`, () => at.messages.find((x) => x.raw.toString('latin1').includes(`Subject: ${subject}\r\n`) && (!rcpt || x.rcptTo.includes(rcpt))));
    const raw = m.raw.toString('latin1');
    const split = raw.indexOf('\r\n\r\n');
    return { rcptTo: m.rcptTo, head: raw.slice(0, split), body: raw.slice(split + 4) };
  }

  it("alice to a colleague and a partner: both copies carry the footer, one message edited once (it is not split)", async () => {
    await sendAsAlice(['colleague@example.com', 'partner@remote.example'], 'mixed-1');
    const inner = await copyAt(colleagues, 'mixed-1');
    const outer = await copyAt(gw.sink, 'mixed-1');
    assert.deepEqual(inner.rcptTo, ['colleague@example.com']);
    assert.deepEqual(outer.rcptTo, ['partner@remote.example']);
    assert.ok(outer.body.includes(FOOTER), 'the partner gets the footer');
    assert.ok(inner.body.includes(FOOTER), 'the colleague gets the same copy, footer and all');
    assert.equal(inner.body, outer.body);
    assert.doesNotMatch(inner.head, /^X-Internal:/im);
  });

  it('alice to colleagues in both local domains only: no footer, and the outbound: false rule matches', async () => {
    await sendAsAlice(['colleague@example.com', 'boss@example.net'], 'inside-1');
    // One delivery per domain: each a copy of its own at the colleagues' server.
    for (const rcpt of ['colleague@example.com', 'boss@example.net']) {
      const copy = await copyAt(colleagues, 'inside-1', rcpt);
      assert.ok(!copy.body.includes(FOOTER), `${rcpt}: mail among colleagues goes without the footer`);
      assert.match(copy.head, /^X-Internal: yes$/im);
    }
  });

  it('alice to a partner alone: the footer', async () => {
    await sendAsAlice(['partner@remote.example'], 'outside-1');
    const outer = await copyAt(gw.sink, 'outside-1');
    assert.ok(outer.body.endsWith(`Hello.\r\n\r\n${FOOTER}\r\n`), outer.body);
  });

  it('a server in relay.networks sending out: the footer, as the core counts it outgoing too', async () => {
    await sendFrom('192.0.2.7', 'crm@example.com', ['customer@remote.example'], 'relaynet-1');
    const outer = await copyAt(gw.sink, 'relaynet-1');
    assert.ok(outer.body.includes(FOOTER));
  });

  it("inbound mail, one recipient forwarded outside by an alias: no footer on either copy, it is not our users' mail", async () => {
    await sendFrom('198.51.100.9', 'someone@world.example', ['team@example.com', 'colleague@example.com'], 'inbound-1');
    const forwarded = await copyAt(gw.sink, 'inbound-1');
    const inner = await copyAt(colleagues, 'inbound-1');
    assert.deepEqual(forwarded.rcptTo, ['team@partner.example']);
    assert.deepEqual(inner.rcptTo, ['colleague@example.com']);
    assert.ok(!forwarded.body.includes(FOOTER) && !inner.body.includes(FOOTER));
  });
});

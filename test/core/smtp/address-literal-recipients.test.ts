// Recipients at an address literal: postmaster at one of the gateway's own addresses (the one the client connected to,
// or any address of the machine, IPv4 or IPv6) is the first domain's postmaster, relayed as such to a real smarthost;
// any other mailbox there gets 550 5.1.1, and a literal that is not the gateway's is refused as relaying (5.7.1).
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { literalAddress } from '../../../core/smtp/address-literal.ts';

describe('recipients at an address literal', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  // Not the first domain listed: postmaster goes to the first (RFC 5321 §4.5.1, as the domainless one does).
  before(async () => { gw = await startRelayingGateway({ config: { domains: ['example.com', 'second.example'] } }); });
  after(() => gw?.stop());

  /** The relayed message holding `marker`, with the envelope the smarthost got. */
  async function relayed(marker: string) {
    await gw.sink.waitForText(marker);
    return gw.sink.messages.find((m) => m.raw.toString('latin1').includes(marker))!;
  }

  /** A session past its EHLO and a MAIL FROM. */
  async function transaction(): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello()).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    return d;
  }

  it('takes postmaster at the address the client connected to as the first domain\'s postmaster (nodemailer)', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, secure: false, ignoreTLS: true });
    try {
      const info = await transport.sendMail({
        envelope: { from: 'sender@client.example', to: ['postmaster@[127.0.0.1]'] },
        from: 'sender@client.example', to: 'postmaster@[127.0.0.1]', subject: 'literal', text: 'literal-v4-marker',
      });
      assert.deepEqual(info.accepted, ['postmaster@[127.0.0.1]']);
    } finally { transport.close(); }
    const got = await relayed('literal-v4-marker');
    assert.deepEqual(got.rcptTo, ['postmaster@example.com']);
    assert.match(got.raw.toString('latin1'), /\tfor <postmaster@example\.com>;/);
  });

  it('takes postmaster at another address of the machine, in IPv6 form, once with the domainless postmaster', async () => {
    const d = await transaction();
    try {
      // ::1 is the machine's (its loopback interface), though the gateway listens on 127.0.0.1 only.
      for (const rcpt of ['PostMaster@[IPv6:::1]', 'postmaster@[IPv6:0:0:0:0:0:0:0:1]', 'postmaster']) {
        const r = await d.cmd(`RCPT TO:<${rcpt}>`);
        assert.equal(r.code, 250, `${rcpt}: ${r.code} ${r.text}`);
      }
      assert.equal((await d.data('Subject: v6\r\n\r\nliteral-v6-marker\r\n')).code, 250);
    } finally { await d.quit(); }
    const got = await relayed('literal-v6-marker');
    // One recipient: the three name the same mailbox, kept as first written.
    assert.deepEqual(got.rcptTo, ['PostMaster@example.com']);
  });

  it('refuses any other mailbox at the gateway\'s own address as unknown (550 5.1.1)', async () => {
    const d = await transaction();
    try {
      for (const rcpt of ['user@[127.0.0.1]', 'abuse@[IPv6:::1]']) {
        const r = await d.cmd(`RCPT TO:<${rcpt}>`);
        assert.equal(`${r.code} ${r.text}`, `550 5.1.1 <${rcpt}>: Recipient address rejected: only postmaster takes mail at this host's address`);
      }
    } finally { await d.quit(); }
    const refused = gw.logs.filter((l) => l.msg === 'recipient refused').flatMap((l) => l.to as string[]);
    assert.ok(refused.includes('user@[127.0.0.1]') && refused.includes('abuse@[IPv6:::1]'), 'each refusal logged with the address as sent');
  });

  it('refuses postmaster at an address that is not the gateway\'s as relaying (550 5.7.1), a malformed literal as bad syntax', async () => {
    const d = await transaction();
    try {
      for (const rcpt of ['postmaster@[198.51.100.7]', 'postmaster@[IPv6:2001:db8::7]']) {
        const r = await d.cmd(`RCPT TO:<${rcpt}>`);
        assert.equal(`${r.code} ${r.text}`, '550 5.7.1 Relay access denied: IP-literal recipients are not accepted', rcpt);
      }
      // An IPv4 address under the IPv6 tag, or IPv6 without it: no address literal of RFC 5321 §4.1.3 at all.
      for (const rcpt of ['postmaster@[IPv6:127.0.0.1]', 'postmaster@[::1]']) {
        const r = await d.cmd(`RCPT TO:<${rcpt}>`);
        assert.equal(r.code, 501, `${rcpt}: ${r.code} ${r.text}`);
        assert.match(r.text, /^5\.1\.3 /);
      }
      // Nothing was taken: DATA has no recipient.
      assert.equal((await d.cmd('DATA')).code, 503);
    } finally { await d.quit(); }
  });
});

describe('literalAddress', () => {
  it('reads an IPv4 literal, and an IPv6 one with its tag in any case, in the form the gateway writes addresses', () => {
    assert.equal(literalAddress('[192.0.2.1]'), '192.0.2.1');
    assert.equal(literalAddress('[IPv6:0:0:0:0:0:0:0:1]'), '::1');
    assert.equal(literalAddress('[ipv6:2001:DB8::1]'), '2001:db8::1');
    // An IPv4-mapped IPv6 address is the IPv4 host, as for a client's address.
    assert.equal(literalAddress('[IPv6:::ffff:127.0.0.1]'), '127.0.0.1');
  });

  it('gives nothing for a name, an IPv6 address without its tag, an IPv4 one with it, or a bad address', () => {
    for (const domain of ['example.com', '[::1]', '[IPv6:192.0.2.1]', '[192.0.2.256]', '[192.0.2.1', '[]', '[IPv6:]']) {
      assert.equal(literalAddress(domain), undefined, domain);
    }
  });
});

// The envelope the front door takes: ESMTP parameters it does not support, a recipient named twice, and the
// domainless postmaster RFC 5321 makes every server accept.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, greeted } from '../../helpers/smtp-dialog.ts';
import { until } from '../queue/send.ts';

describe('front door: the envelope', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { limits: { max_recipients: 2, max_message_size: '1MB' } } });
  });
  after(() => gw.stop());

  it('refuses MAIL and RCPT parameters of extensions it does not offer with 555 5.5.4, and takes the ones it does', async () => {
    const { d, ehlo } = await greeted(gw.port);
    assert.ok(ehlo.includes('DSN') && !ehlo.some((l) => l.startsWith('REQUIRETLS')), ehlo.join('|'));
    for (const param of ['FOO=bar', 'XYZ', 'MT-PRIORITY=3']) {
      const r = await d.cmd(`MAIL FROM:<a@client.example> ${param}`);
      assert.equal(r.code, 555, `${param}: ${r.text}`);
      assert.match(r.text, /^5\.5\.4 /);
    }
    // AUTH is listed only after TLS: before it, AUTH= is a parameter of an extension not offered.
    assert.equal((await d.cmd('MAIL FROM:<a@client.example> AUTH=<>')).code, 555);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example> SIZE=2000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc')).code, 250);
    for (const param of ['FOO', 'RRVS=2030-01-01T00:00:00Z']) {
      const r = await d.cmd(`RCPT TO:<u@example.com> ${param}`);
      assert.equal(r.code, 555, `${param}: ${r.text}`);
    }
    assert.equal((await d.cmd('MAIL FROM:<a@client.example> SIZE=2000000')).code, 503, 'the sender taken above still stands');
    assert.equal((await d.cmd('RCPT TO:<u@example.com>')).code, 250);
    assert.equal((await d.data('Subject: params\r\n\r\nhi\r\n')).code, 250);
    const size = await d.cmd('MAIL FROM:<a@client.example> SIZE=2000000');
    assert.equal(size.code, 552);
    assert.match(size.text, /^5\.3\.4 /);
    await d.quit();
  });

  it('refuses an address beyond ASCII without SMTPUTF8 (553 5.6.7), and takes it with', async () => {
    const { d } = await greeted(gw.port);
    const sender = await d.cmd('MAIL FROM:<jörg@client.example>');
    assert.equal(sender.code, 553, sender.text);
    assert.match(sender.text, /^5\.6\.7 /);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<jörg@example.com>')).code, 553);
    await d.cmd('RSET');
    assert.equal((await d.cmd('MAIL FROM:<jörg@client.example> SMTPUTF8')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<jörg@example.com>')).code, 250);
    await d.quit();
  });

  it('writes an SMTPUTF8 recipient into its Received field as UTF-8, as the client sent it', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<jörg@client.example> SMTPUTF8')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<jörg@example.com>')).code, 250);
    assert.equal((await d.data('Subject: utf8 received\r\n\r\nhi\r\n')).code, 250);
    await d.quit();
    await gw.sink.waitForText('utf8 received');
    const got = gw.sink.messages.find((m) => m.raw.toString().includes('utf8 received'))!;
    assert.ok(got.raw.includes(Buffer.from('for <jörg@example.com>', 'utf8')), got.raw.subarray(0, 300).toString('latin1'));
  });

  it('counts and keeps a recipient named twice (in any case) once', async () => {
    const before = gw.logs.length;
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    for (const to of ['u@example.com', 'U@Example.com', 'u@example.com', 'v@example.com']) {
      assert.equal((await d.cmd(`RCPT TO:<${to}>`)).code, 250, to);
    }
    assert.equal((await d.cmd('RCPT TO:<w@example.com>')).code, 452, 'the third distinct recipient is over max_recipients');
    assert.equal((await d.data('Subject: twice\r\n\r\nhi\r\n')).code, 250);
    await d.quit();
    await until(() => gw.logs.slice(before).some((l) => l.msg === 'message'), 5000, 'the message line');
    const line = gw.logs.slice(before).find((l) => l.msg === 'message')!;
    assert.deepEqual(line.to, ['u@example.com', 'v@example.com']);
  });

  it('accepts the domainless postmaster as postmaster of the first domain', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<Postmaster>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<nobody>')).code, 501, 'any other name still needs a domain');
    assert.equal((await d.data('Subject: to the postmaster\r\n\r\nhi\r\n')).code, 250);
    await d.quit();
    await gw.sink.waitForText('to the postmaster');
    const got = gw.sink.messages.find((m) => m.raw.toString().includes('to the postmaster'))!;
    assert.deepEqual(got.rcptTo, ['Postmaster@example.com']);
  });
});

describe('front door: a refused client', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { access: { deny_ips: ['127.0.0.2/32'] }, limits: { max_errors: 3, error_block: '1m' } } });
  });
  after(() => gw.stop());

  it('answers every command with the refusal, drops it after limits.max_errors and blocks it for limits.error_block', async () => {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.2' });
    assert.equal((await d.read()).code, 554);
    assert.equal((await d.cmd('EHLO refused.test')).code, 554);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 554);
    assert.equal((await d.cmd('RCPT TO:<u@example.com>')).code, 554);
    assert.equal((await d.cmd('DATA')).code, 421);
    await until(() => d.closed, 5000, 'the connection to close');
    const again = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.2' });
    const r = await again.read();
    assert.equal(r.code, 421, r.text);
    assert.match(r.text, /Too many errors from your address/);
    await again.quit();
    const other = await greeted(gw.port);
    await other.d.quit();
  });
});

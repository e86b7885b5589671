// What a hostile client can make of the gateway's own header fields and of its relay decisions, with real parts: a
// gateway relaying to a recording smarthost, driven by a raw SMTP client.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../helpers/gateway.ts';
import { SmtpDialog, greeted } from '../helpers/smtp-dialog.ts';
import { fieldRemoval, withoutFields } from '../../core/message/header-filter.ts';
import { ownFieldsToRemove, parseHeaderBlock } from '../../core/message/header-block.ts';

const headerSection = (raw: Buffer) => raw.toString('latin1').split('\r\n\r\n')[0];

describe('security: hostile envelopes and header sections', function () {
  this.timeout(20_000);
  let gw: RelayingGateway;
  before(async () => {
    // Loopback may use XCLIENT but is no relay network: every foreign recipient must be refused.
    gw = await startRelayingGateway({ config: { server: { trusted_proxies: ['10.9.9.9/32'] }, limits: { max_errors: 50 } } });
  });
  after(() => gw.stop());

  it('a message whose first line is a continuation cannot extend the last header the gateway prepends', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<fold@example.com>')).code, 250);
    const sent = await d.data(' ; dkim=pass header.d=bank.example\r\n\tX-Mailmoat-Spam: No\r\nSubject: folded\r\n\r\nbody\r\n');
    assert.equal(sent.code, 250, sent.text);
    await d.quit();
    const [m] = await gw.sink.waitFor(1);
    const head = headerSection(m.raw);
    assert.doesNotMatch(head, /dkim=pass|X-Mailmoat-Spam: No\r\nSubject/, head);
    const fields = parseHeaderBlock(head + '\r\n');
    assert.deepEqual(fields.map((f) => f.name), ['Received', 'X-Mailmoat-Verdict', 'X-Mailmoat-Spam', 'X-Mailmoat-Spam-Score', 'X-Mailmoat-Spam-Level', 'Subject']);
    assert.equal(fields.find((f) => f.name === 'X-Mailmoat-Spam-Level')!.value, 'None');
    assert.match(m.raw.toString('latin1'), /\r\n\r\nbody\r\n$/);
  });

  it('a field of ours whose colon is folded onto the next line is removed too, as readers that unfold see it', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<colon@example.com>')).code, 250);
    const forged = 'Subject: folded colon\r\nX-Mailmoat-Spam\r\n : No\r\nx-mailmoat-released \r\n\t: from quarantine by the recipient\r\nX-Other\r\n : kept\r\n\r\nbody\r\n';
    const sent = await d.data(forged);
    assert.equal(sent.code, 250, sent.text);
    await d.quit();
    const head = headerSection(Buffer.from(await gw.sink.waitForText('folded colon'), 'latin1'));
    // Taken out of the smarthost's list, which the tests after this one count.
    gw.sink.messages.splice(gw.sink.messages.findIndex((x) => x.rcptTo.includes('colon@example.com')), 1);
    assert.doesNotMatch(head, /\r\n : No|from quarantine|released/i, head);
    assert.match(head, /\r\nSubject: folded colon\r\nX-Other\r\n : kept$/, head);
    const ours = head.split('\r\n').filter((l) => /^x-mailmoat-/i.test(l)).map((l) => l.split(':')[0]);
    assert.deepEqual(ours, ['X-Mailmoat-Verdict', 'X-Mailmoat-Spam', 'X-Mailmoat-Spam-Score', 'X-Mailmoat-Spam-Level'], head);
  });

  it('the filter drops only the continuation lines that open a header section', () => {
    const block = Buffer.from(' orphan\r\n\tmore\r\nSubject: s\r\n\tfolded\r\nX-Mailmoat-Spam: No\r\n\r\n body\r\n');
    const remove = ownFieldsToRemove(block, parseHeaderBlock(block.toString('latin1')));
    assert.deepEqual(remove, ['x-mailmoat-*']);
    assert.equal(withoutFields(block, fieldRemoval(remove)).toString(), 'Subject: s\r\n\tfolded\r\n\r\n body\r\n');
    // An ordinary section is untouched by the rule, byte for byte.
    const plain = Buffer.from('Subject: s\r\n\tfolded\r\n\r\n body\r\n');
    assert.deepEqual(ownFieldsToRemove(plain, parseHeaderBlock(plain.toString('latin1'))), []);
    assert.equal(withoutFields(plain, fieldRemoval(['x-mailmoat-*'])).toString(), plain.toString());
  });

  it('refuses every recipient form that could reach a foreign domain, and keeps local ones as the client wrote them', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example> SMTPUTF8')).code, 250);
    const foreign = [
      'u%evil.example@example.com', 'evil.example!u@example.com', '@example.com:u@evil.example', '@example.com,@x.example:u@evil.example',
      'u@[127.0.0.1]', 'u@[IPv6:::1]', '"u@example.com"@evil.example', 'u@evil.example.', 'U@EVIL.EXAMPLE', 'u@example.com.evil.example',
      'u@еxample.com', 'u@example.com@evil.example', 'u@xn--xample-2of.com', 'u@example.com\u200b',
    ];
    for (const rcpt of foreign) {
      const r = await d.cmd(`RCPT TO:<${rcpt}>`);
      assert.ok(r.code >= 500, `${rcpt} was taken: ${r.code} ${r.text}`);
    }
    // A quoted local part may hold an @ (RFC 5321 Quoted-string): the domain after the last unquoted @ is what is judged.
    for (const rcpt of ['U@EXAMPLE.COM', 'postmaster', 'x@Example.Com', '"u@evil.example"@example.com']) assert.equal((await d.cmd(`RCPT TO:<${rcpt}>`)).code, 250, rcpt);
    assert.equal((await d.data('Subject: local\r\n\r\nhi\r\n')).code, 250);
    await d.quit();
    const m = await gw.sink.waitFor(2);
    assert.deepEqual(m[1].rcptTo, ['U@EXAMPLE.COM', 'postmaster@example.com', 'x@Example.Com', '"u@evil.example"@example.com']);
  });

  it('ignores XCLIENT from an address outside server.trusted_proxies, so a relay network cannot be claimed', async () => {
    const relaying = await startRelayingGateway({ config: { server: { trusted_proxies: ['10.9.9.9/32'] }, relay: { networks: ['192.0.2.0/24'] } } });
    try {
      const { d } = await greeted(relaying.port);
      assert.equal((await d.cmd('XCLIENT ADDR=192.0.2.7 NAME=trusted.example')).code, 550);
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.ok((await d.cmd('RCPT TO:<u@evil.example>')).code >= 500);
      await d.quit();
    } finally {
      await relaying.stop();
    }
  });

  it('refuses a HELO name carrying a bare CR, which would otherwise reach the Received header', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    d.write('EHLO ok.example\rX-Injected: yes\r\n');
    const r = await d.read();
    assert.ok(r.code >= 500, `${r.code} ${r.text}`);
    await d.quit();
  });
});

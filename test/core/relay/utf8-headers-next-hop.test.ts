// A message sent with SMTPUTF8 whose header fields hold raw UTF-8 (RFC 6532), its addresses ASCII, reaches only a
// next hop that offers SMTPUTF8. One without it (with or without 8BITMIME, which covers bodies only) is sent nothing,
// and the sender gets a failure notice (5.6.7), as Postfix bounces it (RFC 6531 §3.2); it had been delivered with the
// UTF-8 bytes unchanged. Real gateway, real smtp-server sinks with and without the extensions.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const UTF8_HEADERS = (marker: string) => Buffer.from([
  'From: Jörg Müller <joerg@client.example>', 'To: ann@example.com', `Subject: Grüße ${marker}`,
  `Message-ID: <${marker}@client.example>`, '', 'Hallo.', '',
].join('\r\n'), 'utf8');

describe('relay: UTF-8 header fields and a next hop without SMTPUTF8', function () {
  this.timeout(60_000);
  let seven: Smarthost;
  let eight: Smarthost;
  let utf8: Smarthost;
  let notices: Smarthost;
  let gw: TestGateway;
  before(async () => {
    [seven, eight, utf8, notices] = await Promise.all([
      startSmarthost({ hide: ['SMTPUTF8', '8BITMIME'] }), startSmarthost({ hide: ['SMTPUTF8'] }), startSmarthost(), startSmarthost(),
    ]);
    const route = (s: Smarthost) => ({ via: `smtp://127.0.0.1:${s.port}`, starttls: 'off' });
    gw = await startGateway({
      config: {
        domains: ['example.com', 'seven.example', 'eight.example', 'utf8.example'],
        smarthost: { url: `smtp://127.0.0.1:${notices.port}`, starttls: 'off' },
        routes: { 'seven.example': route(seven), 'eight.example': route(eight), 'utf8.example': route(utf8) },
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([seven, eight, utf8, notices].map((s) => s?.stop()));
  });

  async function send(rcpts: string[], message: Buffer, smtputf8: boolean): Promise<void> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello()).code, 250);
      assert.equal((await c.cmd(`MAIL FROM:<ann@example.com>${smtputf8 ? ' SMTPUTF8' : ''}`)).code, 250);
      for (const r of rcpts) assert.equal((await c.cmd(`RCPT TO:<${r}>`)).code, 250);
      const dot = await c.data(message);
      assert.equal(dot.code, 250, dot.text);
    } finally {
      await c.quit();
    }
  }

  /** The failure notice to the sender that names `marker` (the notice quotes the message's header section). */
  const noticeFor = async (marker: string) => Buffer.from(await notices.waitForText(marker), 'latin1').toString('utf8');

  it('bounces it for the hops without SMTPUTF8, 8BITMIME or not, and delivers it unchanged to the one with it', async () => {
    const message = UTF8_HEADERS('utf8-hdr-1');
    await send(['a@seven.example', 'b@eight.example', 'c@utf8.example'], message, true);
    const [got] = await utf8.waitFor(1);
    assert.deepEqual(got.rcptTo, ['c@utf8.example']);
    assert.ok(got.raw.includes(message.subarray(0, message.indexOf('\r\n\r\n'))), 'the header section as sent');

    const notice = await noticeFor('utf8-hdr-1');
    assert.match(notice, /^Final-Recipient: rfc822; ?a@seven\.example$/m);
    assert.match(notice, /^Final-Recipient: rfc822; ?b@eight\.example$/m);
    assert.doesNotMatch(notice, /^Final-Recipient: rfc822; ?c@utf8\.example$/m);
    assert.match(notice, /^Status: 5\.6\.7$/m);
    assert.match(notice.replace(/=\r\n/g, ''), /554 5\.6\.7 SMTPUTF8 is required, but was not offered by host 127\.0\.0\.1/);
    assert.equal(seven.messages.length, 0, 'nothing reached the hop without SMTPUTF8 and 8BITMIME');
    assert.equal(eight.messages.length, 0, 'nothing reached the hop with 8BITMIME only');
    const failed = gw.logs.filter((l) => JSON.stringify(l).includes('SMTPUTF8 is required'));
    assert.ok(failed.length > 0, 'the log says why');
  });

  it('reads the header fields of MIME parts too: a UTF-8 file name keeps the message from the 8BITMIME-only hop', async () => {
    const message = Buffer.from([
      'From: joerg@client.example', 'To: ann@example.com', 'Subject: part-hdr-4', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'See attached.',
      '--b1', 'Content-Type: text/plain; name="Grüße.txt"', 'Content-Disposition: attachment; filename="Grüße.txt"', '',
      'Hallo.', '--b1--', '',
    ].join('\r\n'), 'utf8');
    await send(['f@eight.example'], message, true);
    const notice = await noticeFor('part-hdr-4');
    assert.match(notice, /^Final-Recipient: rfc822; ?f@eight\.example$/m);
    assert.match(notice, /^Status: 5\.6\.7$/m);
    assert.ok(!eight.messages.some((m) => m.raw.includes('part-hdr-4')));
  });

  it('still sends such a message whose header fields are ASCII, its 8-bit body made 7-bit where 8BITMIME is missing', async () => {
    const message = Buffer.from([
      'From: joerg@client.example', 'To: ann@example.com', 'Subject: ascii-hdr-2', 'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', 'Grüße aus Köln.', '',
    ].join('\r\n'), 'utf8');
    await send(['d@seven.example'], message, true);
    const got = await seven.waitForText('ascii-hdr-2');
    assert.match(got, /^Content-Transfer-Encoding: quoted-printable\r$/m);
    assert.doesNotMatch(got, /[\x80-\xff]/);
  });

  it('leaves raw 8-bit header fields of mail sent without SMTPUTF8 as they came (not RFC 6532 mail; as before)', async () => {
    const message = Buffer.concat([Buffer.from('From: joerg@client.example\r\nTo: ann@example.com\r\nSubject: legacy-hdr-3 caf'), Buffer.from([0xe9]), Buffer.from('\r\n\r\nHello.\r\n')]);
    await send(['e@eight.example'], message, false);
    assert.match(await eight.waitForText('legacy-hdr-3'), /^Subject: legacy-hdr-3 caf\xe9\r$/m);
  });
});

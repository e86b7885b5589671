// End to end: 8-bit mail through the gateway to a smarthost without 8BITMIME arrives as 7-bit MIME that decodes to
// the same text and attachments (RFC 6152 §3, as Postfix converts); a smarthost with 8BITMIME gets the bytes as sent.
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

interface Received { raw: Buffer; args: Record<string, string> }

/** A smarthost (smtp-server) that records each message with its MAIL FROM parameters. */
async function smarthost(hide8BITMIME: boolean) {
  const got: Received[] = [];
  const server = new SMTPServer({
    hide8BITMIME, disabledCommands: ['STARTTLS', 'AUTH'], authOptional: true, logger: false, disableReverseLookup: true,
    size: 100 * 1024 * 1024,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const args = (session.envelope.mailFrom && session.envelope.mailFrom.args) || {};
        got.push({ raw: Buffer.concat(chunks), args: args as Record<string, string> });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return {
    port, got,
    async next(count: number): Promise<Received> {
      return waitFor(`message ${count} at the smarthost`, () => got[count - 1], 15_000);
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function send(port: number, raw: Buffer): Promise<void> {
  const c = await SmtpDialog.connect(port);
  await c.hello();
  assert.equal((await c.cmd('MAIL FROM:<sender@client.example> BODY=8BITMIME')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
  const r = await c.data(raw);
  assert.equal(r.code, 250, r.text);
  await c.quit();
}

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

/** The message as the gateway received it: what the relayed copy is compared with (its prepended headers aside). */
function assertSameContent(original: ParsedMail, relayed: ParsedMail): void {
  assert.equal(relayed.subject, original.subject);
  assert.equal(relayed.text, original.text);
  assert.equal(relayed.html, original.html);
  assert.equal(relayed.attachments.length, original.attachments.length);
  relayed.attachments.forEach((a, i) => {
    assert.equal(a.contentType, original.attachments[i].contentType);
    assert.equal(a.filename, original.attachments[i].filename);
  });
}

/** Every line of the body (after the top header section) is 7-bit and ends in CRLF; QP and base64 lines within 76. */
function assertSevenBitBody(raw: Buffer): void {
  const bodyAt = raw.indexOf('\r\n\r\n') + 4;
  const body = raw.subarray(bodyAt).toString('latin1');
  assert.doesNotMatch(body, /[\x80-\xff]/, 'an 8-bit byte is left in the body');
  assert.doesNotMatch(body.replace(/\r\n/g, ''), /[\r\n]/, 'a bare CR or LF in the body');
}

const PHOTO = Buffer.from(Array.from({ length: 3000 }, (_v, i) => (i * 37) % 256));

describe('relay to a smarthost without 8BITMIME', function () {
  this.timeout(60_000);
  let plain: Awaited<ReturnType<typeof smarthost>>;
  let eight: Awaited<ReturnType<typeof smarthost>>;
  let gwPlain: TestGateway;
  let gwEight: TestGateway;
  before(async () => {
    plain = await smarthost(true);
    eight = await smarthost(false);
    gwPlain = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${plain.port}` } });
    gwEight = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${eight.port}` } });
  });
  after(async () => {
    await gwPlain?.stop();
    await gwEight?.stop();
    await plain?.stop();
    await eight?.stop();
  });

  it('converts a plain 8-bit text message to quoted-printable that decodes to the same text, SIZE= its real size', async () => {
    const raw = crlf([
      'From: sender@client.example', 'To: user@example.com', 'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=',
      'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '',
      'Grüße aus Köln, ça va ? ' + 'ü'.repeat(60), 'a = sign and trailing spaces   ', '.a line with a dot', 'déjà', '',
    ]);
    await send(gwPlain.port, raw);
    const got = await plain.next(1);
    const text = got.raw.toString('latin1');
    assert.match(text, /\r\nContent-Transfer-Encoding: quoted-printable\r\n/);
    assert.doesNotMatch(text, /Content-Transfer-Encoding: 8bit/);
    assertSevenBitBody(got.raw);
    for (const l of text.slice(text.indexOf('\r\n\r\n') + 4).split('\r\n')) assert.ok(l.length <= 76, `line of ${l.length}: ${l}`);
    assert.equal(got.args.BODY, undefined, 'BODY=8BITMIME sent to a server without it');
    assert.equal(Number(got.args.SIZE), got.raw.length, 'SIZE= is not the size of what was sent');
    assertSameContent(await simpleParser(raw), await simpleParser(got.raw));
    const delivered = await waitFor('the delivered line', () => gwPlain.logs.find((l) => l.msg === 'delivered'), 2000);
    assert.match(String(delivered?.reply), /\(converted to 7-bit MIME: 1 part\)$/, `the log does not say the message was converted: ${JSON.stringify(delivered)}`);
  });

  it('converts the 8-bit text part of a multipart and leaves its base64 attachment, boundaries, preamble and epilogue alone', async () => {
    const b64 = PHOTO.toString('base64').replace(/.{76}/g, '$&\r\n');
    const raw = crlf([
      'From: sender@client.example', 'To: user@example.com', 'Subject: multipart', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="=_b1"', '', 'This is the preamble.', '--=_b1',
      'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: 8bit', '', '',
    ]);
    const latin1Text = Buffer.from('Caf\xe9 cr\xe8me, na\xefve\r\n--=_b1 mid-line is content\r\n', 'latin1');
    const rest = crlf([
      '', '--=_b1', 'Content-Type: image/png; name="photo.png"', 'Content-Disposition: attachment; filename="photo.png"',
      'Content-Transfer-Encoding: base64', '', b64, '--=_b1--', 'The epilogue.', '',
    ]);
    const message = Buffer.concat([raw, latin1Text, rest]);
    await send(gwPlain.port, message);
    const got = await plain.next(2);
    const text = got.raw.toString('latin1');
    assertSevenBitBody(got.raw);
    assert.ok(text.includes('\r\n\r\nThis is the preamble.\r\n--=_b1\r\n'), 'preamble or boundary changed');
    assert.ok(text.includes(`Content-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--=_b1--\r\nThe epilogue.\r\n`), 'attachment or epilogue changed');
    assert.match(text, /charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me/);
    assert.equal(Number(got.args.SIZE), got.raw.length);
    const [before, after] = [await simpleParser(message), await simpleParser(got.raw)];
    assertSameContent(before, after);
    assert.ok(after.attachments[0].content.equals(PHOTO), 'attachment bytes differ');
  });

  it('converts the 8-bit leaves inside a nested message/rfc822', async () => {
    const inner = crlf([
      'From: inner@client.example', 'Subject: =?UTF-8?Q?inn=C3=A9r?=', 'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="in"', '', '--in', 'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit', '', 'Innerer Text: Äpfel und Öl', '--in', 'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: 8bit', '', '<p>Äpfel und Öl</p>', '--in--', '',
    ]);
    const message = Buffer.concat([crlf([
      'From: sender@client.example', 'To: user@example.com', 'Subject: forward', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="out"', '', '--out', 'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit', '', 'Weitergeleitet: schön', '--out', 'Content-Type: message/rfc822',
      'Content-Transfer-Encoding: 8bit', '', '',
    ]), inner, crlf(['--out--', ''])]);
    await send(gwPlain.port, message);
    const got = await plain.next(3);
    const text = got.raw.toString('latin1');
    assertSevenBitBody(got.raw);
    assert.match(text, /Content-Type: message\/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n/);
    assert.equal((text.match(/Content-Transfer-Encoding: quoted-printable/g) ?? []).length, 3);
    const [before, after] = [await simpleParser(message), await simpleParser(got.raw)];
    assertSameContent(before, after);
    const [innerBefore, innerAfter] = [await simpleParser(before.attachments[0].content), await simpleParser(after.attachments[0].content)];
    assert.equal(innerAfter.text, innerBefore.text);
    assert.equal(innerAfter.html, innerBefore.html);
    assert.equal(innerAfter.subject, 'innér');
  });

  it('sends a 7-bit message byte for byte', async () => {
    const message = crlf(['From: sender@client.example', 'To: user@example.com', 'Subject: ascii', '', 'Plain ASCII, = and all.', '']);
    await send(gwPlain.port, message);
    const got = await plain.next(4);
    assert.ok(got.raw.subarray(got.raw.length - message.length).equals(message), 'a 7-bit message was changed');
    assert.equal(Number(got.args.SIZE), got.raw.length);
  });

  it('streams a large 8-bit message from the spool and it decodes to the same bytes', async () => {
    const line = 'Größe und Maß, ' + 'é'.repeat(40);
    const bodyText = Array.from({ length: 12_000 }, (_v, i) => `${i} ${line}`).join('\r\n') + '\r\n';
    const message = Buffer.concat([crlf(['From: sender@client.example', 'To: user@example.com', 'Subject: big',
      'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', '']), Buffer.from(bodyText, 'utf8')]);
    assert.ok(message.length > 1024 * 1024, 'the test message should go to the spool file');
    await send(gwPlain.port, message);
    const got = await plain.next(5);
    assertSevenBitBody(got.raw);
    assert.equal(Number(got.args.SIZE), got.raw.length);
    assert.equal((await simpleParser(got.raw)).text, (await simpleParser(message)).text);
  });

  it('gives a smarthost that offers 8BITMIME the bytes unchanged, with BODY=8BITMIME', async () => {
    const message = crlf([
      'From: sender@client.example', 'To: user@example.com', 'Subject: eight', 'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', 'Grüße, unverändert', '',
    ]);
    await send(gwEight.port, message);
    const got = await eight.next(1);
    assert.ok(got.raw.subarray(got.raw.length - message.length).equals(message), '8-bit mail was changed for a server with 8BITMIME');
    assert.equal(got.args.BODY, '8BITMIME');
  });

  it('converts an 8-bit line longer than SMTP allows before it is broken, so the decoded text has no break in it', async () => {
    const long = 'ü'.repeat(800) + ' end';
    const raw = crlf([
      'From: sender@client.example', 'To: user@example.com', 'Subject: long 8-bit line',
      'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', long, '',
    ]);
    const n = plain.got.length + 1;
    await send(gwPlain.port, raw);
    const got = await plain.next(n);
    assertSevenBitBody(got.raw);
    assert.equal((await simpleParser(got.raw)).text?.trimEnd(), long);
  });
});

// The disclaimer action in a real gateway: real SMTP in, a recording smarthost out, what it receives parsed with
// mailparser. Plain and HTML bodies, quoted-printable and base64 parts, a UTF-8 text into an ISO-8859-1 part, the
// top position; and the mail it leaves alone: one that carries it already (a reply quoting it), signed mail, and the
// text of attachments and forwarded messages.
import assert from 'node:assert/strict';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendRaw } from './timed-send.ts';
import { message as messageFrom, multipart, part } from './mime-build.ts';

const message = (subject: string, body: string) => messageFrom(subject, body, 'ann@example.com', 'bob@elsewhere.example');

const NOTE = 'Vertraulich – nur für den Empfänger.\nConfidential © Example GmbH';

describe('plugins/rules: the disclaimer action in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      { name: 'footer', when: { subject: { contains: 'footer' } }, actions: [{ disclaimer: NOTE }] },
      { name: 'header-note', when: { subject: { contains: 'topnote' } }, actions: [{ disclaimer: { text: 'EXTERNAL SENDER', html: '<p style="color:red">EXTERNAL SENDER</p>', position: 'top' } }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  async function relay(subject: string, body: string): Promise<{ raw: string; mail: ParsedMail }> {
    const r = await sendRaw(gw.port, message(subject, body), { from: 'ann@example.com', to: ['bob@example.com'] });
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const raw = await gw.sink.waitForText(`Subject: ${subject}\r\n`);
    return { raw, mail: await simpleParser(Buffer.from(raw, 'latin1')) };
  }

  it('goes at the end of a plain single-part message; non-ASCII text in a us-ascii part is re-labelled UTF-8, quoted-printable', async () => {
    const { raw, mail } = await relay('footer-1', part(['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit'], 'Hello Bob.\r\nSee you.'));
    assert.equal(mail.text, `Hello Bob.\nSee you.\n\n${NOTE}\n`);
    assert.match(raw, /^Content-Type: text\/plain; charset=utf-8\r$/m);
    assert.match(raw, /^Content-Transfer-Encoding: quoted-printable\r$/m);
    assert.match(raw, /^From: ann@example\.com\r$/m);
  });

  it('goes into both bodies of an alternative: the plain part (quoted-printable) as text, the HTML (base64) before </body>', async () => {
    const html = '<html><body><p>Hall&ouml;chen</p></body></html>';
    const { mail } = await relay('footer-2', multipart('alternative', 'alt', [
      part(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable'], 'Hall=C3=B6chen, a line that is long enough to be =\r\nsoft-broken.'),
      part(['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64'], Buffer.from(html).toString('base64')),
    ]));
    assert.equal(mail.text, `Hallöchen, a line that is long enough to be soft-broken.\n\n${NOTE}`);
    assert.match(String(mail.html), /^<html><body><p>Hall&ouml;chen<\/p>\n<p>Vertraulich &#x2013; nur f&#xfc;r den Empf&#xe4;nger\.<br>\nConfidential &#xa9; Example GmbH<\/p>\n<\/body><\/html>$/);
    const line = await waitFor('the log line', () => gw.logs.findLast((l) => l.msg === 'rules: disclaimer added' && (l.parts as string[]).length === 2));
    assert.deepEqual(line.parts, ['text/plain', 'text/html']);
  });

  it('a UTF-8 text into an ISO-8859-1 part: the part is converted to UTF-8, no character changed', async () => {
    const { raw, mail } = await relay('footer-3', multipart('mixed', 'mx', [
      part(['Content-Type: text/plain; charset=iso-8859-1; format=flowed', 'Content-Transfer-Encoding: quoted-printable'], 'Gr=FC=DFe aus K=F6ln'),
    ]));
    assert.equal(mail.text, `Grüße aus Köln\n\n${NOTE}`);
    assert.match(raw, /^Content-Type: text\/plain; charset=utf-8; format=flowed\r$/m);
    const line = await waitFor('the log line', () => gw.logs.findLast((l) => l.msg === 'rules: disclaimer added' && l.converted_to_utf8));
    assert.deepEqual(line.converted_to_utf8, ['text/plain']);
  });

  it('is not added to attachments nor to a forwarded message; at the end means after the last text part', async () => {
    const notes = part(['Content-Type: text/plain; name="notes.txt"', 'Content-Disposition: attachment; filename="notes.txt"'], 'my notes');
    const fwd = part(['Content-Type: message/rfc822'], message('inner', part(['Content-Type: text/plain'], 'the forwarded text')).replace(/\r\n$/, ''));
    const { raw, mail } = await relay('footer-4', multipart('mixed', 'mx4', [
      part(['Content-Type: text/plain; charset=utf-8'], 'first words'), notes, fwd, part(['Content-Type: text/plain; charset=utf-8'], 'last words'),
    ]));
    assert.ok(raw.includes(`--mx4\r\n${notes}\r\n--mx4\r\n${fwd}\r\n--mx4\r\n`), 'the attachment and the forwarded message as sent');
    assert.ok(raw.includes('--mx4\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst words\r\n--mx4'), 'the first text part as sent');
    assert.match(mail.text!, /last words\n\nVertraulich – nur für den Empfänger\.\nConfidential © Example GmbH$/);
  });

  it('is not added again to a reply that quotes it, nor to signed mail, and says so', async () => {
    const quoted = `Thanks!\r\n\r\nOn Monday Bob wrote:\r\n> Hi\r\n> ${NOTE.split('\n').join('\r\n> ')}\r\n`;
    const reply = part(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'], Buffer.from(quoted, 'utf8').toString('latin1'));
    const { raw } = await relay('footer-5', reply);
    assert.ok(raw.endsWith(`\r\n\r\n${Buffer.from(quoted, 'utf8').toString('latin1')}\r\n`), 'the body as sent');
    const again = await waitFor('the log line', () => gw.logs.findLast((l) => l.msg === 'rules: disclaimer not added' && /carries it already/.test(String(l.reason))));
    assert.equal(again.rule, 'footer');

    const signed = multipart('signed', 'sig', [
      part(['Content-Type: text/plain; charset=us-ascii'], 'Signed words.'),
      part(['Content-Type: application/pgp-signature; name="signature.asc"'], '-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----'),
    ], '; micalg=pgp-sha256; protocol="application/pgp-signature"');
    const { raw: rawSigned } = await relay('footer-6', signed);
    assert.ok(rawSigned.endsWith(`\r\n${signed}\r\n`), 'the signed body as sent');
    await waitFor('the log line', () => gw.logs.findLast((l) => l.msg === 'rules: disclaimer not added' && /signed or encrypted/.test(String(l.reason))));
  });

  it('position top: before the plain text, and just after <body> in the HTML', async () => {
    const { mail } = await relay('topnote-1', multipart('alternative', 'alt7', [
      part(['Content-Type: text/plain'], 'The text.'),
      part(['Content-Type: text/html'], '<html><head><title>t</title></head><BODY class="x"><p>The text.</p></BODY></html>'),
    ]));
    assert.equal(mail.text, 'EXTERNAL SENDER\n\nThe text.');
    assert.equal(mail.html, '<html><head><title>t</title></head><BODY class="x">\n<p style="color:red">EXTERNAL SENDER</p>\n<p>The text.</p></BODY></html>');
  });
});

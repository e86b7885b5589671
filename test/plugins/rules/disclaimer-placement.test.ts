// Where the disclaimer lands, in a real gateway relaying to a recording smarthost, for HTML an attacker shapes so that
// the last `</body>` string is no end tag (in a comment, an attribute, a script, a textarea; an unclosed comment at the
// end): it must be text the reader sees, in mailparser's text and HTML and in htmlparser2's document. Also: a marker
// of inline PGP that is not at a line start signs nothing, and a text part with a file name is an attachment.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { parseDocument } from 'htmlparser2';
import type { ChildNode } from 'domhandler';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendRaw } from './timed-send.ts';
import { message, multipart, part } from './mime-build.ts';

const NOTE = 'Sent from the Example mail service';
/** Elements whose content a reader does not see as text of the page. */
const UNSEEN = new Set(['script', 'style', 'textarea', 'title', 'head']);

/** The text of the document's nodes a browser shows (comments and the content of UNSEEN elements left out). */
function visibleText(nodes: ChildNode[]): string {
  let out = '';
  for (const n of nodes) {
    if (n.type === 'text') out += n.data;
    else if ((n.type === 'tag' || n.type === 'script' || n.type === 'style') && !UNSEEN.has(n.name)) out += visibleText(n.children);
    else if (n.type === 'root') out += visibleText(n.children);
  }
  return out;
}

const TRAPS: Array<[string, string]> = [
  ['a comment', '<html><body><p>Hello</p><!-- </body> --></body></html>'],
  ['an attribute', '<html><body><p>Hello <a title="</body>" href="https://example.com/">link</a></p>'],
  ['a script', '<html><body><p>Hello</p><script>var s=\'</body>\';</script>'],
  ['a textarea', '<html><body><p>Hello</p><textarea></body></textarea>'],
  ['no </body> and an unclosed comment', '<p>Hello</p><!-- left open'],
  ['an unclosed script', '<p>Hello</p><script>var x = 1;'],
  ['an unclosed attribute', '<p>Hello</p><a title="open'],
];

describe('plugins/rules: where the disclaimer goes, in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      { name: 'footer', when: { authenticated: false }, actions: [{ disclaimer: NOTE }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  async function relay(subject: string, body: string): Promise<string> {
    const r = await sendRaw(gw.port, message(subject, body, 'ann@example.com', 'bob@elsewhere.example'), { from: 'ann@example.com', to: ['bob@example.com'] });
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    return gw.sink.waitForText(`Subject: ${subject}\r\n`);
  }

  TRAPS.forEach(([what, html], i) => {
    it(`is visible when the last </body> string is in ${what}`, async () => {
      const raw = await relay(`trap-${i}`, part(['Content-Type: text/html; charset=utf-8'], html));
      const mail = await simpleParser(Buffer.from(raw, 'latin1'));
      assert.ok(visibleText([parseDocument(String(mail.html))]).includes(NOTE), `not visible in ${mail.html}`);
      assert.ok((mail.text ?? '').includes(NOTE), `not in mailparser's text: ${mail.text}`);
      assert.ok(String(mail.html).includes('Hello'), 'the content is kept');
    });
  });

  it('goes before a real </body> that follows one in a comment', async () => {
    const raw = await relay('trap-real', part(['Content-Type: text/html'], '<html><body><p>Hi</p><!-- </body> --><p>Bye</p></body></html>'));
    const mail = await simpleParser(Buffer.from(raw, 'latin1'));
    assert.match(String(mail.html), new RegExp(`<p>Bye</p>\\n<p>${NOTE}</p>\\n</body></html>\\n?$`));
  });

  it('is added to a plain message that quotes the inline PGP marker mid-line, not to one that starts with it', async () => {
    const quoting = part(['Content-Type: text/plain'], 'Paste the part that starts -----BEGIN PGP SIGNED MESSAGE----- here.');
    const mail = await simpleParser(Buffer.from(await relay('pgp-mid', quoting), 'latin1'));
    assert.ok((mail.text ?? '').endsWith(`${NOTE}\n`), mail.text);
    const signed = part(['Content-Type: text/plain'], '-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nHi\r\n-----BEGIN PGP SIGNATURE-----\r\nx\r\n-----END PGP SIGNATURE-----');
    const raw = await relay('pgp-start', signed);
    assert.ok(!raw.includes(NOTE));
    await waitFor('the log line', () => gw.logs.find((l) => l.msg === 'rules: disclaimer not added' && /inline PGP/.test(String(l.reason))));
  });

  it('leaves a text part with a file name and no disposition alone: to mail programs it is an attachment', async () => {
    const script = part(['Content-Type: text/plain; name="script.sh"'], '#!/bin/sh\r\necho hi');
    const raw = await relay('named-part', multipart('mixed', 'nm', [part(['Content-Type: text/plain'], 'The script:'), script]));
    assert.ok(raw.includes(`--nm\r\n${script}\r\n--nm--`), 'the script as sent');
    const mail = await simpleParser(Buffer.from(raw, 'latin1'));
    assert.match(mail.text ?? '', new RegExp(`^The script:\\n\\n${NOTE}`));
    const alone = await relay('named-only', script);
    assert.ok(!alone.includes(NOTE));
    await waitFor('the log line', () => gw.logs.find((l) => l.msg === 'rules: disclaimer not added' && /named text parts are attachments/.test(String(l.reason))));
  });
});

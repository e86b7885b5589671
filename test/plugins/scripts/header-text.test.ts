// What a filter script reads of header fields in raw 8-bit bytes: UTF-8 where they are UTF-8 (an SMTPUTF8 client's,
// RFC 6532), else Windows-1252, as the rules plugin reads them. A raw UTF-8 From had reached `msg.header('from')` as
// `JÃ¶rg MÃ¼ller`, and a raw Windows-1252 Subject `msg.subject` as U+FFFD. Real gateway, a script in its sandbox,
// a recording smarthost; the script hands back what it read, percent-encoded in header fields of the relayed message.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const ECHO = `module.exports = (m) => ({ addHeaders: [
  { name: 'X-Seen-From', value: encodeURIComponent(m.header('from')) },
  { name: 'X-Seen-Subject', value: encodeURIComponent(m.subject) },
  { name: 'X-Seen-Subject-Field', value: encodeURIComponent(m.header('subject')) },
] });`;

describe('plugins/scripts: header fields in raw 8-bit bytes', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let gw: RelayingGateway;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-text-'));
    end = holdUntilExit({ dir });
    writeFileSync(path.join(dir, 'echo.js'), ECHO);
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'scripts', scripts: [path.join(dir, 'echo.js')] }] } });
  });
  after(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
    end?.();
  });

  /** Sends `head` (raw bytes) with a marker line and returns what the script read, by header name. */
  async function seen(head: Buffer, marker: string, smtputf8: boolean): Promise<Record<string, string>> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello()).code, 250);
      assert.equal((await c.cmd(`MAIL FROM:<sender@client.example>${smtputf8 ? ' SMTPUTF8' : ''}`)).code, 250);
      assert.equal((await c.cmd('RCPT TO:<ann@example.com>')).code, 250);
      const dot = await c.data(Buffer.concat([head, Buffer.from(`\r\nMessage-ID: <${marker}@client.example>\r\n\r\nHello.\r\n`)]));
      assert.equal(dot.code, 250, dot.text);
    } finally {
      await c.quit();
    }
    const raw = await gw.sink.waitForText(marker);
    const field = (name: string) => decodeURIComponent(new RegExp(`^${name}: (.*)\\r$`, 'm').exec(raw)?.[1] ?? '');
    return { from: field('X-Seen-From'), subject: field('X-Seen-Subject'), subjectField: field('X-Seen-Subject-Field') };
  }

  it('reads a raw UTF-8 From and Subject (SMTPUTF8) as UTF-8', async () => {
    const got = await seen(Buffer.from('From: Jörg Müller <joerg@client.example>\r\nTo: ann@example.com\r\nSubject: Grüße aus Köln', 'utf8'), 'scripts-utf8', true);
    assert.deepEqual(got, { from: 'Jörg Müller <joerg@client.example>', subject: 'Grüße aus Köln', subjectField: 'Grüße aus Köln' });
  });

  it('reads a raw Windows-1252 Subject as Windows-1252, € and curly quotes included', async () => {
    const subject = Buffer.from([...Buffer.from('Caf'), 0xe9, ...Buffer.from(' for 5 '), 0x80, 0x20, 0x93, ...Buffer.from('now'), 0x94]);
    const got = await seen(Buffer.concat([Buffer.from('From: joerg@client.example\r\nTo: ann@example.com\r\nSubject: '), subject]), 'scripts-1252', false);
    assert.equal(got.subject, 'Café for 5 € “now”');
    assert.equal(got.subjectField, 'Café for 5 € “now”');
  });

  it('decodes encoded words in the Subject, keeps them as written in the field, and leaves an unknown charset as written', async () => {
    const head = 'From: =?UTF-8?Q?J=C3=B6rg?= <joerg@client.example>\r\nTo: ann@example.com\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?= =?x-unknown?B?5pel?=';
    const got = await seen(Buffer.from(head), 'scripts-words', false);
    assert.equal(got.subject, 'Grüße =?x-unknown?B?5pel?=');
    assert.equal(got.subjectField, '=?UTF-8?B?R3LDvMOfZQ==?= =?x-unknown?B?5pel?=');
    assert.equal(got.from, '=?UTF-8?Q?J=C3=B6rg?= <joerg@client.example>');
  });
});

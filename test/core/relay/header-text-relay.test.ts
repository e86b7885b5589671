// End to end: header values beyond ASCII that the gateway writes (a plugin's addHeader, the verdict's subject tag)
// reach the smarthost as bytes a MIME reader decodes back to the text given: RFC 2047 encoded words (UTF-8), every
// header line within 78 characters where we encoded, and a client's own UTF-8 Subject (SMTPUTF8) kept as it came.
// Written as Latin-1, U+0080–U+00FF had gone out as bytes that are not UTF-8 and the rest cut to their low byte.
// This file is also the plugin: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import libmime from 'libmime';
import { definePlugin, s, type HookContext } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const NOTES: Record<string, string> = {
  'X-Note': '日本',
  'X-Latin': 'café — déjà vu',
  'X-Emoji': 'ok 😀 done',
  'X-Address': 'Rechnung für Jürgen <juergen@example.com>',
  'X-Long': `${'Пересылка не удалась, '.repeat(20)}end`,
  'X-Plain': 'just ASCII, as it is',
};

export default definePlugin({
  name: 'header-text-fixture',
  description: 'Test double: adds headers beyond ASCII, and a spam score when the message asks',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async data(ctx: HookContext) {
        if (ctx.message!.headers.first('X-Case') === 'notes') for (const [n, v] of Object.entries(NOTES)) ctx.addHeader(n, v);
        if (ctx.message!.headers.first('X-Case') === 'spam') ctx.addFinding('TEST_SPAMMY', 6, 'as the test asks');
      },
    },
  }),
});

describe('relay: header text beyond ASCII', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: { plugins: [{ name: 'header-text-fixture', module: import.meta.filename }], scores: { add_header: 5, subject_tag: '[SPAM]' } },
    });
  });
  after(() => gw.stop());

  async function relay(message: Buffer, smtputf8 = false): Promise<Buffer> {
    const before = gw.sink.messages.length;
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    assert.equal((await c.cmd(`MAIL FROM:<someone@client.example>${smtputf8 ? ' SMTPUTF8' : ''}`)).code, 250);
    assert.equal((await c.cmd('RCPT TO:<ann@example.com>')).code, 250);
    const r = await c.data(message);
    assert.equal(r.code, 250, r.text);
    await c.quit();
    return (await gw.sink.waitFor(before + 1))[before].raw;
  }

  /** The header section's lines, as bytes read one character per byte. */
  const headerLines = (raw: Buffer) => raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1').split('\r\n');

  it('writes a plugin\'s values as encoded words that decode to the text given, lines within 78 characters', async () => {
    const raw = await relay(Buffer.from(testMessage({ to: 'ann@example.com', headers: { 'X-Case': 'notes' } })));
    const lines = headerLines(raw);
    const ours = lines.slice(0, lines.findIndex((l) => l.startsWith('X-Case:')));
    for (const l of ours) assert.match(l, /^[\t\x20-\x7e]*$/, `ASCII only: ${JSON.stringify(l)}`);
    const parsed = await simpleParser(raw);
    for (const [name, text] of Object.entries(NOTES)) {
      // mailparser keeps an X- field as written (unfolded); its libmime decodes the words, as it does a Subject.
      const line = parsed.headerLines.find((h) => h.key === name.toLowerCase())!.line;
      const value = line.slice(name.length + 1).replace(/\r\n(?=[ \t])/g, '').trim();
      assert.equal(libmime.decodeWords(value), text, name);
      if (name !== 'X-Plain') for (const l of line.split('\r\n')) assert.ok(l.length <= 78, `${name}: ${l.length} characters: ${l}`);
    }
    // Only the words beyond ASCII are encoded: the address stays an address.
    assert.equal(parsed.headerLines.find((h) => h.key === 'x-address')!.line,
      `X-Address: Rechnung =?UTF-8?B?${Buffer.from('für Jürgen').toString('base64')}?= <juergen@example.com>`);
  });

  it('tags a Subject that was itself encoded, and decodes to the tag and the original text', async () => {
    const raw = await relay(Buffer.from(testMessage({ to: 'ann@example.com', subject: '=?ISO-8859-1?Q?caf=E9_cr=E8me?=', headers: { 'X-Case': 'spam' } })));
    assert.equal((await simpleParser(raw)).subject, '[SPAM] café crème');
    assert.equal(headerLines(raw).filter((l) => /^Subject:/i.test(l)).length, 1, 'one Subject');
  });

  it('tags a raw UTF-8 Subject of an SMTPUTF8 message and keeps its bytes as they came', async () => {
    const subject = 'Grüße aus 日本';
    const raw = await relay(Buffer.from(testMessage({ to: 'ann@example.com', subject, headers: { 'X-Case': 'spam' } }), 'utf8'), true);
    assert.ok(raw.includes(Buffer.from(`Subject: [SPAM] ${subject}\r\n`, 'utf8')), raw.toString('utf8').slice(0, 800));
    assert.equal((await simpleParser(raw)).subject, `[SPAM] ${subject}`);
  });
});

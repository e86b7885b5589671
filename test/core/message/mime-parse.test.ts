// URLs found in a parsed message: what urlbl and filter rules look up.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { extractUrls, parseMime } from '../../../core/message/mime-parse.ts';
import type { ParsedMessage } from '../../../core/message/types.ts';
import { TEXT_PART_MAX_BYTES } from '../../../core/message/text-parts.ts';
import { SpooledMessage } from '../../../core/message/spooled-message.ts';

describe('message URLs', () => {
  it('takes URLs from text and HTML once each, without the sentence punctuation after them', async () => {
    const urls = await extractUrls(
      'See http://a.example/x?y=1. Or https://b.example/!?; then http://a.example/x?y=1',
      '<a href="http://c.example/p?a=1&amp;b=2">c</a> text http://d.example/q,',
    );
    assert.deepEqual(urls, ['http://a.example/x?y=1', 'https://b.example/', 'http://c.example/p?a=1&b=2', 'http://d.example/q']);
  });

  it('takes www. links written without a scheme, as mail clients link them, and not inside names or addresses', async () => {
    assert.deepEqual(await extractUrls('order at www.Spam.example/x?y=1. or http://www.other.example/ (bob@www.mail.example, foo.www.bar.example)', ''),
      ['http://www.other.example/', 'http://www.Spam.example/x?y=1']);
    // 160 KB of one long match, and 300 KB of many: one pass each.
    assert.equal((await extractUrls('www.'.repeat(40_000), '')).length, 1);
    assert.equal((await extractUrls(' www.a.b '.repeat(34_000), '')).length, 1);
  });

  it('takes a link to an IPv6 host whole, brackets and all, and ends other URLs at a bracket', async () => {
    assert.deepEqual(await extractUrls('at http://[2001:db8::7]:8080/p?q=1, or [see http://a.example/x] and http://[::ffff:203.0.113.1]/', ''),
      ['http://[2001:db8::7]:8080/p?q=1', 'http://a.example/x', 'http://[::ffff:203.0.113.1]/']);
    // 100,000 colons in brackets and no closing one: one pass.
    assert.deepEqual(await extractUrls(`http://[${':'.repeat(100_000)}`, ''), []);
  });

  it('reads a URL holding 400 KB of dots in one pass', async function () {
    // /[.,;:!?]+$/ rescanned the run from each of its dots: 30 s at 160 KB.
    this.timeout(10_000);
    const url = `http://a${'.'.repeat(400_000)}x`;
    assert.deepEqual(await extractUrls(`go to ${url}!`, ''), [url]);
  });

  it('parses a message with such a URL into its text and URLs', async function () {
    this.timeout(10_000);
    const url = `http://a${'.'.repeat(200_000)}x`;
    const m = await parseMime(Readable.from([`Subject: dots\r\nContent-Type: text/plain\r\n\r\nvisit ${url}.\r\n`]));
    assert.equal(m.malformed, false);
    assert.deepEqual(m.urls, [url]);
  });
});

describe('a message mailparser refuses', () => {
  it('still gives its decoded text, links and attachments: 1,001 empty parts hide nothing', async () => {
    const parts = '--b\r\n\r\n\r\n'.repeat(1_001);
    const raw = Buffer.from('Subject: padded\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n' + parts
      + '--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n'
      + Buffer.from('café at http://spam.example/buy\r\n').toString('base64') + '\r\n'
      + '--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D"https://html.example/x">x</a>\r\n'
      + '--b\r\nContent-Type: application/octet-stream; name=run.exe\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQ\r\n--b--\r\n');
    const m = await parseMime(Readable.from([raw]), async () => raw);
    assert.equal(m.malformed, true);
    assert.equal(m.subject, 'padded');
    assert.match(m.text, /café at http:\/\/spam\.example\/buy/);
    assert.deepEqual(m.urls, ['http://spam.example/buy', 'https://html.example/x']);
    const exe = m.attachments.find((a) => a.filename === 'run.exe');
    assert.deepEqual(exe?.content, Buffer.from('TVqQ', 'base64'));
    // The view plugins read gives its parse the message to read again.
    const view = new SpooledMessage('q1', '/nonexistent/q1.eml', raw.length, raw.subarray(0, raw.indexOf('\r\n\r\n') + 4), raw);
    assert.deepEqual((await view.parsed()).urls, m.urls);
  });

  it('decodes its Subject as mailparser would: encoded words in their charsets, raw UTF-8 as UTF-8', async () => {
    const parts = '--b\r\n\r\n\r\n'.repeat(1_001);
    const body = 'Content-Type: multipart/mixed; boundary=b\r\n\r\n' + parts + '--b--\r\n';
    const encoded = Buffer.from('Subject: =?UTF-8?B?Q2Fmw6k=?= =?ISO-8859-1?Q?_cr=E8me?= offer\r\n' + body);
    const m = await parseMime(Readable.from([encoded]), async () => encoded);
    assert.equal(m.malformed, true);
    assert.equal(m.subject, 'Café crème offer');
    const raw8bit = Buffer.concat([Buffer.from('Subject: '), Buffer.from('Grüße', 'utf8'), Buffer.from('\r\n' + body)]);
    assert.equal((await parseMime(Readable.from([raw8bit]), async () => raw8bit)).subject, 'Grüße');
  });

  it('keeps the start of each long text part and says it cut it, as for a message mailparser reads', async () => {
    const parts = '--b\r\n\r\n\r\n'.repeat(1_001);
    const line = 'words and http://start.example/ here\r\n';
    const raw = Buffer.from('Subject: padded\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n' + parts
      + `--b\r\nContent-Type: text/plain\r\n\r\n${line.repeat(100_000)}--b\r\nContent-Type: text/html\r\n\r\n<p>short</p>\r\n--b--\r\n`);
    const m = await parseMime(Readable.from([raw]), async () => raw, raw.length);
    assert.equal(m.malformed, true);
    assert.equal(m.textTruncated, true);
    assert.ok(m.text.length <= TEXT_PART_MAX_BYTES + 1000, `${m.text.length} characters of text`);
    assert.match(m.text, /^\s*words and http:\/\/start\.example\/ here\r\n/);
    assert.equal(m.html, '<p>short</p>');
    assert.deepEqual(m.urls, ['http://start.example/']);
  });
});

describe('text in the charsets mail declares', () => {
  // mailparser 3.14 decodes through libmime's createDecodeStream; with the libmime 5.4 the registry snapshot first
  // offered, every charset but UTF-8 came out as U+FFFD (`caf�`), so no rule, script or blocklist saw the words.
  const part = (charset: string, cte: string, body: string) => Buffer.from(
    `From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=${charset}\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${body}\r\n`, 'latin1');
  for (const [charset, cte, body, text] of [
    ['iso-8859-1', 'quoted-printable', 'caf=E9 cr=E8me', 'café crème'],
    ['windows-1252', '8bit', 'caf\xe9 \x93quoted\x94 \x80 5', 'café “quoted” € 5'],
    ['koi8-r', '8bit', '\xf0\xd2\xc9\xd7\xc5\xd4', 'Привет'],
    ['iso-8859-2', 'quoted-printable', '=A3=F3d=BC', 'Łódź'],
  ] as const) {
    it(`decodes ${charset} (${cte})`, async () => {
      const raw = part(charset, cte, body);
      const m = await parseMime(Readable.from([raw]), async () => raw, raw.length);
      assert.equal(m.text.trim(), text);
    });
  }
});

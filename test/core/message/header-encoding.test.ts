// Header values as the bytes the gateway writes: ASCII as it is, a message's own UTF-8 bytes as they came, text
// beyond ASCII as RFC 2047 encoded words that a MIME reader (libmime, mailparser's) decodes back to that text.
import assert from 'node:assert/strict';
import libmime from 'libmime';
import { formatHeader, headerBytes, taggedSubject } from '../../../core/message/header-block.ts';
import { encodeNonAsciiWords } from '../../../core/text/encoded-words.ts';
import { prependBytes } from '../../../core/relay/outgoing-stream.ts';

/** What a reader sees: the field unfolded and its encoded words decoded. */
const readBack = (field: string, name: string) => libmime.decodeWords(field.slice(name.length + 1).replace(/\r\n(?=[ \t])/g, '').replace(/\r\n$/, '').trim());
const bytesOf = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

describe('header values beyond ASCII', () => {
  it('leaves ASCII alone, encoded words included', () => {
    for (const v of ['plain', '[SPAM] =?ISO-8859-1?Q?caf=E9?=', '']) assert.equal(headerBytes(v), v);
  });

  it('writes text beyond ASCII as encoded words a reader decodes to it, and only the words beyond ASCII', () => {
    for (const text of ['日本', 'café', 'ok 😀 done', 'a  two\tspaces 日本 end', 'ü', 'Ünïcödé ' + 'ж'.repeat(120)]) {
      const out = headerBytes(text);
      assert.match(out, /^[\x20-\x7e\t]*$/, `ASCII: ${out}`);
      assert.equal(libmime.decodeWords(out), text);
      for (const w of out.split(/[ \t]+/)) if (w.startsWith('=?')) assert.ok(w.length <= 75, w);
    }
    assert.equal(headerBytes('Jürgen <j@example.com>'), `=?UTF-8?B?${Buffer.from('Jürgen').toString('base64')}?= <j@example.com>`);
  });

  it('keeps the space between new encoded words and ones already there, which a reader would drop', () => {
    for (const text of ['日本 =?ISO-8859-1?Q?caf=E9?=', '=?ISO-8859-1?Q?caf=E9?= 日本', '=?UTF-8?B?w6k=?=  日本  =?UTF-8?B?w6k=?= x']) {
      const decodedOriginal = text.replace(/=\?[^?]+\?[BQ]\?[^?]*\?=/g, (w) => libmime.decodeWords(w));
      assert.equal(libmime.decodeWords(encodeNonAsciiWords(text)), decodedOriginal, text);
    }
  });

  it('passes a message\'s own UTF-8 header bytes on as they came (a tagged SMTPUTF8 Subject)', () => {
    const subject = bytesOf('Grüße aus 日本');
    assert.equal(headerBytes(taggedSubject('[SPAM]', subject)), `[SPAM] ${subject}`);
    assert.equal(formatHeader('Subject', taggedSubject('[垃圾]', subject)), `Subject: =?UTF-8?B?${Buffer.from('[垃圾]').toString('base64')}?= ${subject}\r\n`);
  });

  it('reads bytes that are not UTF-8 as Windows-1252, as mail clients do, and encodes them', () => {
    const latin = Buffer.from([0x93, 0x63, 0x61, 0x66, 0xe9, 0x94]).toString('latin1'); // “café” from an 8-bit client
    assert.equal(libmime.decodeWords(headerBytes(latin)), '\u201ccafé\u201d');
  });

  it('folds a field of encoded words at 78 characters, after the colon when the first word would not fit', () => {
    for (const [name, text] of [['X-Note', `${'Пересылка не удалась, '.repeat(30)}end`], ['X-A-Rather-Long-Field-Name', '日本語のテキスト'.repeat(10)]]) {
      const field = formatHeader(name, text);
      assert.ok(field.endsWith('\r\n'));
      const lines = field.slice(0, -2).split('\r\n');
      assert.ok(lines.length > 1);
      for (const [i, l] of lines.entries()) {
        assert.ok(l.length <= 78, `${l.length}: ${l}`);
        assert.ok(l.trim() !== '', 'each line holds text');
        if (i > 0) assert.match(l, /^[ \t]/);
      }
      assert.equal(readBack(field, name), text, 'unfolded and decoded: the text given');
    }
    const short = formatHeader('X-Note', '日本');
    assert.equal(short, `X-Note: =?UTF-8?B?${Buffer.from('日本').toString('base64')}?=\r\n`);
  });

  it('sends a queued line holding characters above U+00FF (queued by an older version) as UTF-8, the rest byte for byte', () => {
    const old = `X-Note: 日本\r\nSubject: ${bytesOf('é')}\r\n`;
    assert.deepEqual(prependBytes(old), Buffer.concat([Buffer.from('X-Note: 日本\r\n', 'utf8'), Buffer.from('Subject: é\r\n', 'utf8')]));
    assert.deepEqual(prependBytes('A: \xe9\r\n'), Buffer.from([0x41, 0x3a, 0x20, 0xe9, 0x0d, 0x0a]), 'bytes stay bytes');
  });
});

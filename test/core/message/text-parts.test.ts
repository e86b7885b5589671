// The text parts of a large message as the parsed view keeps them: the start of each, cut where a line ends, the
// cut said; attachments and the other parts untouched.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { parseMime } from '../../../core/message/mime-parse.ts';
import type { ParsedMessage } from '../../../core/message/types.ts';
import { TEXT_MAX_BYTES, TEXT_PART_MAX_BYTES } from '../../../core/message/text-parts.ts';

const LARGE = 2 * 1024 * 1024;
const HEAD = 'From: a@sender.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n';
const part = (headers: string, body: string) => `--B\r\n${headers}\r\n\r\n${body}\r\n`;
const parse = (raw: string, size = LARGE): Promise<ParsedMessage> => parseMime(Readable.from([Buffer.from(raw, 'latin1')]), undefined, size);

describe('text parts of a large message', () => {
  it('keeps the start of a long plain part, cut after a whole line, and says so', async () => {
    const line = 'a line of words http://x.example/\r\n';
    const raw = HEAD + part('Content-Type: text/plain', line.repeat(Math.ceil(TEXT_PART_MAX_BYTES / line.length) + 1000)) + '--B--\r\n';
    const m = await parse(raw);
    assert.equal(m.textTruncated, true);
    assert.match(m.text, /^(a line of words http:\/\/x\.example\/\n)+$/);
    // Line ends read as \n: each kept line was one byte longer as sent.
    const keptBytes = (m.text.length / (line.length - 1)) * line.length;
    assert.ok(keptBytes <= TEXT_PART_MAX_BYTES && keptBytes > TEXT_PART_MAX_BYTES - line.length, `${keptBytes} bytes kept`);
    assert.deepEqual(m.urls, ['http://x.example/']);
  });

  it('cuts a base64 UTF-8 part without splitting a character, so the rest still reads as UTF-8', async () => {
    // 76-character lines of 57 bytes each: the 26,886 lines kept end 2 bytes into an `x€` of 4 bytes, within the €.
    const text = 'x€'.repeat(700_000);
    const b64 = Buffer.from(text, 'utf8').toString('base64').replace(/.{76}/g, '$&\r\n');
    const m = await parse(HEAD + part('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64', b64) + '--B--\r\n');
    assert.equal(m.textTruncated, true);
    assert.ok(text.startsWith(m.text), 'the kept text is the start of the part, decoded as UTF-8');
    assert.ok(m.text.length > 500_000);
  });

  it('keeps TEXT_MAX_BYTES of all parts together: a later part is left out, its attachment neighbours whole', async () => {
    const filler = ('f'.repeat(99) + '\n').repeat(TEXT_PART_MAX_BYTES / 100 + 10);
    const parts = [];
    for (let i = 0; i * TEXT_PART_MAX_BYTES < TEXT_MAX_BYTES; i++) parts.push(part('Content-Type: text/plain', `part${i}\n${filler}`));
    parts.push(part('Content-Type: text/plain; name=log.txt\r\nContent-Disposition: attachment; filename=log.txt', filler));
    // The room left after the parts above (each cut after its last whole line) is smaller than this part's start.
    parts.push(part('Content-Type: text/html', `<p>${'y'.repeat(1000)} late part</p>`));
    const m = await parse(HEAD + parts.join('') + '--B--\r\n');
    assert.equal(m.textTruncated, true);
    assert.match(m.text, /^part0\n/);
    assert.doesNotMatch(m.text, /late part/);
    // A text attachment is an attachment: measured and kept as ever, never cut.
    assert.deepEqual(m.attachments.map((a) => [a.filename, a.size, a.content.length]), [['log.txt', filler.length, filler.length]]);
  });

  it('reads charsets, quoted-printable, format=flowed and delivery reports as mailparser does in a small message', async () => {
    const raw = HEAD
      + part('Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable', 'caf=E9 soft=\r\nbreak')
      + part('Content-Type: text/plain; format=flowed; delsp=yes', 'flow ed \r\nline\r\n-- \r\nsig')
      + part('Content-Type: message/delivery-status', 'Action: failed')
      + part('Content-Type: text/html', '<p>x</p>') + '--B--\r\n';
    const m = await parse(raw);
    assert.equal(m.text, 'café softbreak\nflow edline\n-- \nsig\nAction: failed\nx');
    assert.equal(m.html, '<p>x</p>');
    assert.equal(m.subject, 'parts');
    assert.equal(m.textTruncated, false);
    // The small-message path (mailparser's own reading) agrees on the plain parts.
    const small = await parse(raw.replace('charset=iso-8859-1', 'charset=utf-8').replace('=E9', 'e'), 100);
    assert.match(small.text, /^cafe softbreak\nflow edline\n-- \nsig\nAction: failed\n/);
  });
});

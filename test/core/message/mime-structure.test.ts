// How far parseMime walked a message's MIME structure (`structure`) and every file name a part declares
// (attachmentNames): through mailparser, the large-message path, attached messages, and the fallback reader.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { attachmentNames, HTML_TO_TEXT_MAX_SIZE, NESTED_MESSAGE_MAX_DEPTH, parseMime } from '../../../core/message/mime-parse.ts';
import type { ParsedMessage } from '../../../core/message/types.ts';

const PART = ['Content-Type: application/octet-stream; name="setup.exe"', 'Content-Disposition: attachment; filename="setup.exe"', '', 'MZ'].join('\r\n');

function nestedMultipart(levels: number, inner = PART, head = ''): string {
  let body = inner;
  for (let i = 0; i < levels; i++) body = [`Content-Type: multipart/mixed; boundary="b${i}"`, '', `--b${i}`, body, `--b${i}--`].join('\r\n');
  return ['From: a@x.example', 'Subject: nested', 'MIME-Version: 1.0', ...(head ? [head] : []), body, ''].join('\r\n');
}

function nestedForwards(levels: number): string {
  let msg = ['From: a@x.example', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="z"', '', '--z', PART, '--z--'].join('\r\n');
  for (let i = 0; i < levels; i++) {
    msg = [
      'From: a@x.example', 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="f${i}"`, '', `--f${i}`, 'Content-Type: text/plain', '', 'fwd',
      `--f${i}`, `Content-Type: message/rfc822`, `Content-Disposition: attachment; filename="fwd${i}.eml"`, '', msg, `--f${i}--`,
    ].join('\r\n');
  }
  return `${msg}\r\n`;
}

async function parse(text: string | Buffer): Promise<ParsedMessage> {
  const raw = Buffer.isBuffer(text) ? text : Buffer.from(text);
  return parseMime(Readable.from([raw]), async () => raw, raw.length);
}

describe('core/message: how far the MIME structure was walked', () => {
  it('counts the containers around the deepest part: 0 for one part, N for N nested multiparts', async () => {
    assert.deepEqual((await parse('From: a@x.example\r\nSubject: plain\r\n\r\nhello\r\n')).structure, { depth: 0 });
    for (const n of [1, 2, 17, 900]) {
      const parsed = await parse(nestedMultipart(n));
      assert.deepEqual(parsed.structure, { depth: n }, `${n} levels`);
      assert.deepEqual(parsed.attachments.map((a) => a.filename), ['setup.exe']);
    }
  });

  it('says it stopped where mailparser refused (1,000 parts) and its fallback reader stopped (20 levels)', async () => {
    const parsed = await parse(nestedMultipart(1000));
    assert.equal(parsed.malformed, true);
    assert.deepEqual(parsed.structure, { depth: 20, incomplete: 'MIME parts nested deeper than 20 levels were not read' });
    // The fallback reader walked to the end of a shallower message mailparser refused for its 1,100 parts.
    const many = ['From: a@x.example', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="m"', '',
      ...Array.from({ length: 1100 }, (_, i) => `--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="f${i}.txt"\r\n\r\nx`), '--m--', ''].join('\r\n');
    const wide = await parse(many);
    assert.equal(wide.malformed, true);
    assert.deepEqual(wide.structure, { depth: 1 });
    assert.equal(wide.attachments.length, 1100);
  });

  it('goes into attached messages up to NESTED_MESSAGE_MAX_DEPTH and says so past it', async () => {
    const within = await parse(nestedForwards(NESTED_MESSAGE_MAX_DEPTH));
    // Each forward adds its multipart and the message/rfc822 part; the original's multipart and its part make 1 more.
    assert.deepEqual(within.structure, { depth: 2 * NESTED_MESSAGE_MAX_DEPTH + 1 });
    const exe = within.attachments.find((a) => a.filename === 'setup.exe');
    assert.equal(exe?.within?.length, NESTED_MESSAGE_MAX_DEPTH);
    const past = await parse(nestedForwards(NESTED_MESSAGE_MAX_DEPTH + 1));
    assert.equal(past.structure.incomplete, `attached messages nested deeper than ${NESTED_MESSAGE_MAX_DEPTH} were not read`);
    assert.ok(!past.attachments.some((a) => a.filename === 'setup.exe'));
  });

  it('says an attached message it could not parse was not read', async () => {
    const inner = nestedMultipart(1000).replace(/^[\s\S]*?MIME-Version: 1\.0\r\n/, 'From: a@x.example\r\nMIME-Version: 1.0\r\n');
    const outer = ['From: a@x.example', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="o"', '', '--o',
      'Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="deep.eml"', '', inner, '--o--', ''].join('\r\n');
    assert.equal((await parse(outer)).structure.incomplete, 'an attached message could not be parsed');
  });

  it('walks a message over HTML_TO_TEXT_MAX_SIZE (the large-message path) the same way', async () => {
    const text = ['Content-Type: text/plain', '', 'x'.repeat(76).concat('\r\n').repeat(Math.ceil(HTML_TO_TEXT_MAX_SIZE / 78) + 10)].join('\r\n');
    const big = nestedMultipart(3, [`--x`, text, '--x', PART, '--x--'].join('\r\n'), '');
    const parsed = await parse(big.replace('Content-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n--x', 'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--x'));
    assert.ok(parsed.text.length > HTML_TO_TEXT_MAX_SIZE / 2);
    assert.deepEqual(parsed.structure, { depth: 4 });
  });

  it('lists every file name a part declares, through mailparser and the fallback reader', async () => {
    const part = ['Content-Type: application/octet-stream; name="a.scr"; name="b.com"',
      'Content-Disposition: attachment; filename="readme.txt"; filename="setup.exe"; filename*=utf-8\'\'caf%C3%A9.pdf', '', 'MZ'].join('\r\n');
    const want = ['café.pdf', 'readme.txt', 'setup.exe', 'a.scr', 'b.com'];
    const one = await parse(nestedMultipart(1, part));
    assert.deepEqual(attachmentNames(one.attachments[0]), want);
    const wide = ['From: a@x.example', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="m"', '',
      ...Array.from({ length: 1001 }, () => `--m\r\nContent-Type: text/plain\r\n\r\nx`), '--m', part, '--m--', ''].join('\r\n');
    const fallback = await parse(wide);
    assert.equal(fallback.malformed, true);
    assert.deepEqual(attachmentNames(fallback.attachments.at(-1)!), want);
  });
});

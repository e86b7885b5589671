import assert from 'node:assert/strict';
import { Headers, encodedWords, formatHeader, headerEnd, ownFieldsToRemove, parseHeaderBlock } from '../../../core/message/header-block.ts';

describe('header block', () => {
  it('splits fields, joins folded lines and keeps each field as written (CRLF)', () => {
    const fields = parseHeaderBlock('Subject: one\r\n two\r\nX-Empty:\r\nnot a field\r\nTo: a@b.test\r\n');
    assert.deepEqual(fields, [
      { name: 'Subject', value: 'one two', raw: 'Subject: one\r\n two\r\n' },
      { name: 'X-Empty', value: '', raw: 'X-Empty:\r\n' },
      { name: 'To', value: 'a@b.test', raw: 'To: a@b.test\r\n' },
    ]);
    const h = new Headers(fields);
    assert.equal(h.first('subject'), 'one two');
    assert.equal(h.has('cc'), false);
  });

  it('reads LF-only lines as well, writing raw with CRLF', () => {
    assert.deepEqual(parseHeaderBlock('Content-Type: text/plain;\n\tcharset=utf-8\nX-A: 1'), [
      { name: 'Content-Type', value: 'text/plain; charset=utf-8', raw: 'Content-Type: text/plain;\r\n\tcharset=utf-8\r\n' },
      { name: 'X-A', value: '1', raw: 'X-A: 1\r\n' },
    ]);
  });

  it('finds where the header section ends, and formats a header on one line', () => {
    assert.equal(headerEnd(Buffer.from('A: 1\r\n\r\nbody')), 8);
    assert.equal(headerEnd(Buffer.from('\r\nbody')), 2);
    assert.equal(headerEnd(Buffer.from('A: 1\r\n')), -1);
    assert.equal(formatHeader('X-Note', 'a\r\nb'), 'X-Note: a b\r\n');
  });

  it('folds a header over 998 characters at its spaces, so that unfolded it is the value as given', () => {
    const words = Array.from({ length: 400 }, (_, i) => `=?UTF-8?B?${Buffer.from(`w${i}`).toString('base64')}?=`).join(' ');
    for (const value of [words, `[SPAM] ${'x'.repeat(1_500)} tail`, `${'y'.repeat(2_000)}${' '.repeat(3_000)}`, `a${' \t'.repeat(2_000)}b`]) {
      const out = formatHeader('Subject', value);
      assert.ok(out.endsWith('\r\n'));
      const lines = out.slice(0, -2).split('\r\n');
      assert.equal(lines.join(''), `Subject: ${value}`, 'folding only adds line breaks');
      assert.ok(lines[0].startsWith('Subject: '));
      for (const [i, l] of lines.entries()) {
        assert.ok(l.trim() !== '', `line ${i} holds text`);
        if (i > 0) assert.match(l, /^[ \t]/, 'a continuation starts with a space or tab');
      }
      if (value === words) assert.ok(lines.length > 1 && lines.every((l) => l.length <= 998), 'every line within 998 characters');
    }
    assert.equal(formatHeader('X-Long', 'z'.repeat(2_000)), `X-Long: ${'z'.repeat(2_000)}\r\n`, 'no space to fold at: kept whole');
    const short = `verdict; ${'S(1) '.repeat(150)}`;
    assert.equal(formatHeader('X-V', short), `X-V: ${short}\r\n`, 'a line within the limit is left alone');
  });

  it('names every field of the gateway\'s namespace a message came with, in any case, folded or spaced', () => {
    const block = 'X-Mailmoat-Spam: No\r\nx-mailmoat-verdict: accept\r\nX-MAILMOAT-Spam-Score : -5\r\nX-Mailmoat-Spam-Level:\r\n\tLow\r\n'
      + 'X-Mailmoat-Spam:No\r\nX-Mailmoat: not ours\r\nX-Other: X-Mailmoat-Spam: No\r\n\r\n';
    const names = ownFieldsToRemove(Buffer.from(block), parseHeaderBlock(block));
    assert.deepEqual(names.sort(), ['x-mailmoat-spam', 'x-mailmoat-spam-level', 'x-mailmoat-spam-score', 'x-mailmoat-verdict']);
    assert.deepEqual(ownFieldsToRemove(Buffer.from('Subject: hi\r\n\r\n'), parseHeaderBlock('Subject: hi\r\n')), [],
      'nothing to remove from an ordinary message (the relay then copies it without parsing)');
  });

  it('removes the whole namespace when a name of ours stands alone on a line, its colon folded below', () => {
    const block = 'Subject: hi\r\nX-Mailmoat-Spam\r\n : No\r\n\r\n';
    assert.deepEqual(ownFieldsToRemove(Buffer.from(block), parseHeaderBlock(block)), ['x-mailmoat-*']);
    const body = 'Subject: hi\r\n\r\nX-Mailmoat-Spam\r\n';
    assert.deepEqual(ownFieldsToRemove(Buffer.from(body), parseHeaderBlock('Subject: hi\r\n')), [], 'the body is not the header section');
  });

  it('removes the whole namespace when only the start of a long header section was read', () => {
    const start = 'X-Pad: ' + 'a'.repeat(100) + '\r\n';
    assert.deepEqual(ownFieldsToRemove(Buffer.from(start), parseHeaderBlock(start)), ['x-mailmoat-*']);
  });

  it('writes text of our own as RFC 2047 encoded words when it is not ASCII, each within 75 characters', () => {
    assert.equal(encodedWords('[SPAM]'), '[SPAM]');
    const long = 'Пересылка не удалась: ' + 'ж'.repeat(60) + ' 😀';
    const words = encodedWords(long).split(' ');
    assert.ok(words.length > 1);
    for (const w of words) {
      assert.match(w, /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/);
      assert.ok(w.length <= 75, w);
    }
    const decoded = words.map((w) => Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).join('');
    assert.equal(decoded, long, 'cut between characters, so each word decodes alone and together they give the text');
  });
});

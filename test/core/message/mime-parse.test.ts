// URLs found in a parsed message: what urlbl and filter rules look up.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { extractUrls, parseMime } from '../../../core/message/mime-parse.ts';

describe('message URLs', () => {
  it('takes URLs from text and HTML once each, without the sentence punctuation after them', () => {
    const urls = extractUrls(
      'See http://a.example/x?y=1. Or https://b.example/!?; then http://a.example/x?y=1',
      '<a href="http://c.example/p?a=1&amp;b=2">c</a> text http://d.example/q,',
    );
    assert.deepEqual(urls, ['http://a.example/x?y=1', 'https://b.example/', 'http://c.example/p?a=1&b=2', 'http://d.example/q']);
  });

  it('takes www. links written without a scheme, as mail clients link them, and not inside names or addresses', () => {
    assert.deepEqual(extractUrls('order at www.Spam.example/x?y=1. or http://www.other.example/ (bob@www.mail.example, foo.www.bar.example)', ''),
      ['http://www.other.example/', 'http://www.Spam.example/x?y=1']);
    // 160 KB of one long match, and 300 KB of many: one pass each.
    assert.equal(extractUrls('www.'.repeat(40_000), '').length, 1);
    assert.equal(extractUrls(' www.a.b '.repeat(34_000), '').length, 1);
  });

  it('reads a URL holding 400 KB of dots in one pass', function () {
    // /[.,;:!?]+$/ rescanned the run from each of its dots: 30 s at 160 KB.
    this.timeout(10_000);
    const url = `http://a${'.'.repeat(400_000)}x`;
    assert.deepEqual(extractUrls(`go to ${url}!`, ''), [url]);
  });

  it('parses a message with such a URL into its text and URLs', async function () {
    this.timeout(10_000);
    const url = `http://a${'.'.repeat(200_000)}x`;
    const m = await parseMime(Readable.from([`Subject: dots\r\nContent-Type: text/plain\r\n\r\nvisit ${url}.\r\n`]));
    assert.equal(m.malformed, false);
    assert.deepEqual(m.urls, [url]);
  });
});

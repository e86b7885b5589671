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

// The header section of a message arriving in chunks of any size.
import assert from 'node:assert/strict';
import { HeaderCollector } from '../../../core/message/header-collector.ts';
import { headerEnd } from '../../../core/message/header-block.ts';

/** Feeds `msg` in the given chunk sizes (repeating the last); returns the collector. */
function collect(msg: Buffer, sizes: number[], max = 256 * 1024): HeaderCollector {
  const c = new HeaderCollector(max);
  for (let at = 0, k = 0; at < msg.length; k++) {
    const n = sizes[Math.min(k, sizes.length - 1)];
    c.add(msg.subarray(at, at + n));
    at += n;
  }
  return c;
}

describe('header collector', () => {
  it('finds the same header section as a search of the whole message, however the chunks fall', () => {
    const messages = [
      'Subject: a\r\nFrom: b@c.example\r\n\r\nbody\r\n\r\nmore\r\n',
      '\r\nno header fields\r\n',
      'Subject: only headers, no blank line\r\n',
      'X: 1\r\n\r\n',
      'A: \r\r\n\n\r\n\r\n',
    ];
    let seed = 7;
    const random = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
    for (const text of messages) {
      const msg = Buffer.from(text);
      const end = headerEnd(msg);
      const expected = end >= 0 ? msg.subarray(0, end) : msg;
      for (let trial = 0; trial < 200; trial++) {
        const sizes = Array.from({ length: msg.length }, () => 1 + Math.floor(random() * 5));
        assert.deepEqual(collect(msg, sizes).gathered, expected, `${JSON.stringify(text)} in chunks ${sizes.join(',')}`);
      }
    }
  });

  it('stops at the cap when no blank line comes', () => {
    const msg = Buffer.from(`Subject: ${'x'.repeat(100)}\r\n`);
    assert.deepEqual(collect(msg, [7], 50).gathered, msg.subarray(0, 50));
  });

  it('says a header section longer than the cap overflowed, in one chunk or many, and one that fits did not', () => {
    const msg = Buffer.from(`Subject: ${'x'.repeat(100)}\r\n\r\nbody\r\n`);
    for (const sizes of [[msg.length], [7], [1]]) {
      const over = collect(msg, sizes, 50);
      assert.deepEqual([over.overflowed, over.gathered], [true, msg.subarray(0, 50)], `chunks of ${sizes}`);
      const fits = collect(msg, sizes, 113);
      assert.deepEqual([fits.overflowed, fits.gathered.length], [false, 113], `chunks of ${sizes}`);
    }
  });

  it('takes a 256 KB header sent one byte at a time in one pass', function () {
    // Joining every chunk so far and searching it from the start, per chunk, copied tens of gigabytes here.
    this.timeout(10_000);
    const msg = Buffer.from(`Subject: ${'y'.repeat(256 * 1024 - 20)}\r\n\r\nbody`);
    const c = collect(msg, [1]);
    assert.equal(c.gathered.length, msg.length - 4);
  });
});

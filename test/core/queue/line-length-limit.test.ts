// LineLengthLimit on its own: the same output however the message is cut into chunks, CRLF never split, lines within
// the limit untouched.
import assert from 'node:assert/strict';
import { LineLengthLimit } from '../../../core/relay/line-length-limit.ts';

const run = (chunks: Buffer[], limit: number) => {
  const l = new LineLengthLimit(limit);
  return Buffer.concat(chunks.map((c) => l.push(c))).toString('latin1');
};

describe('LineLengthLimit', () => {
  const text = 'abcdefghij\r\n.klmnopqrstuv\r\nshort\r\n' + 'w'.repeat(23) + '\r\n1234567890\r\n';

  it('breaks lines over the limit with CRLF SPACE, one octet earlier for a line starting with a dot', () => {
    assert.equal(run([Buffer.from(text, 'latin1')], 10),
      'abcdefghij\r\n.klmnopqr\r\n stuv\r\nshort\r\nwwwwwwwwww\r\n wwwwwwwww\r\n wwww\r\n1234567890\r\n');
  });

  it('gives the same bytes for every way of cutting the input in two or three', () => {
    const whole = run([Buffer.from(text, 'latin1')], 10);
    const b = Buffer.from(text, 'latin1');
    for (let i = 0; i <= b.length; i++) {
      assert.equal(run([b.subarray(0, i), b.subarray(i)], 10), whole, `cut at ${i}`);
      for (let j = i; j <= b.length; j += 3) assert.equal(run([b.subarray(0, i), b.subarray(i, j), b.subarray(j)], 10), whole, `cut at ${i}, ${j}`);
    }
  });

  it('decides a chunk of many lines as a byte at a time does, with lines at the limit and dotted ones among them', () => {
    // Longer than several limits, so a chunk is judged in more than one reach; each line length is around the limit.
    const lines = ['abc', 'x'.repeat(9), 'y'.repeat(10), 'z'.repeat(11), '', '.' + 'd'.repeat(9), '.' + 'e'.repeat(8), 'short', 'f'.repeat(20), 'gh', 'i'.repeat(10)];
    const b = Buffer.from([...lines, ...lines.reverse()].join('\r\n') + '\r\n' + '.' + 'j'.repeat(8), 'latin1');
    const byteByByte = run([...b].map((x) => Buffer.from([x])), 10);
    assert.ok(byteByByte.split('\r\n').every((l) => l.length <= 10), 'no line over the limit');
    assert.equal(run([b], 10), byteByByte);
    for (let i = 0; i <= b.length; i++) assert.equal(run([b.subarray(0, i), b.subarray(i)], 10), byteByByte, `cut at ${i}`);
  });

  it('returns a chunk with no long line as the same buffer', () => {
    const b = Buffer.from('a'.repeat(998) + '\r\n' + 'b'.repeat(10), 'latin1');
    assert.equal(new LineLengthLimit().push(b), b);
  });
});

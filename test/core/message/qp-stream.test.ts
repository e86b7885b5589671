// The streaming quoted-printable decoder gives mailparser's bytes (libqp's, which reads a part whole), however the
// part is cut into chunks, and reads the runs of spaces that are quadratic for libqp in one pass.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { QuotedPrintableStream } from '../../../core/message/qp-stream.ts';

const libqp = createRequire(import.meta.url)('libqp') as { decode(input: Buffer): Buffer };

/** `input` decoded in chunks of `size` bytes. */
function streamed(input: Buffer, size: number): Buffer {
  const decoder = new QuotedPrintableStream();
  const out: Buffer[] = [];
  for (let at = 0; at < input.length; at += size) out.push(decoder.decode(input.subarray(at, at + size)));
  out.push(decoder.end());
  return Buffer.concat(out);
}

const CASES = [
  'caf=C3=A9 and =e2=82=ac\r\n',
  'soft=\r\nbreak and soft=\nbare LF, =\r\n',
  'trailing blanks  \r\nkept inside  words\t\r\n',
  'blanks before a soft break = \t\r\nnext',
  '== =4 =4X =ZZ =\rX =\r\n=41',
  '==\n41 and ==\r\n41',
  'ends in an equals sign=',
  'ends in blanks   ',
  'ends in =4',
  'ends in =\r',
  '\u00e9 8-bit bytes =\u00e9 pass through',
  '',
  '=',
  ' \t \r\n\r\n=\r\n',
];

describe('core/message/qp-stream', () => {
  it('decodes to libqp\'s bytes, in chunks of any size', () => {
    for (const text of CASES) {
      const input = Buffer.from(text, 'latin1');
      const want = libqp.decode(input).toString('hex');
      for (let size = 1; size <= Math.max(1, input.length); size++) {
        assert.equal(streamed(input, size).toString('hex'), want, `${JSON.stringify(text)} in chunks of ${size}`);
      }
    }
  });

  it('agrees with libqp on random quoted-printable, cut at random', () => {
    const pieces = ['=', ' ', '\t', '\r', '\n', 'A', 'f', '3', 'x', '=\r\n', '=4', '=41', '\u00e9'];
    let seed = 7;
    const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    for (let k = 0; k < 20_000; k++) {
      let text = '';
      for (let i = random(16); i > 0; i--) text += pieces[random(pieces.length)];
      const input = Buffer.from(text, 'latin1');
      assert.equal(streamed(input, 1 + random(5)).toString('hex'), libqp.decode(input).toString('hex'), JSON.stringify(text));
    }
  });

  it('reads a run of 200,000 spaces that no line break ends, and one that a line break ends, across chunks', () => {
    const kept = Buffer.from(`a${' '.repeat(200_000)}b=41\r\n`, 'latin1');
    assert.equal(streamed(kept, 65_536).toString('latin1'), `a${' '.repeat(200_000)}bA\r\n`);
    const dropped = Buffer.from(`a${' '.repeat(200_000)}\r\nb`, 'latin1');
    assert.equal(streamed(dropped, 65_536).toString('latin1'), 'a\r\nb');
  });
});

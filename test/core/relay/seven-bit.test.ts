// The 7-bit downgrade on its own: every converted leaf decodes to exactly its original bytes, whatever the chunking,
// the output is 7-bit with CRLF lines within 76 characters, and what needs no conversion is left byte for byte.
import assert from 'node:assert/strict';
import { scanSevenBit, sevenBitStream } from '../../../core/message/seven-bit.ts';
import { decodeLeaf, leafParts } from '../../../core/message/mime-leaves.ts';

/** `data` in chunks of the given sizes, repeated. */
async function* chunked(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let i = 0, k = 0;
  while (i < data.length) { const n = sizes[k++ % sizes.length]; yield data.subarray(i, i + n); i += n; }
}

async function downgrade(data: Buffer, sizes = [data.length]): Promise<Buffer> {
  const scan = await scanSevenBit(chunked(data, sizes));
  const out: Buffer[] = [];
  for await (const c of sevenBitStream(chunked(data, sizes), scan.plan)) out.push(c);
  return Buffer.concat(out);
}

const lines = (l: string[]) => Buffer.from(l.join('\r\n'), 'latin1');

// Text with what quoted-printable must take care of: 8-bit bytes, "=", trailing blanks, a lone CR and a lone LF,
// a line far beyond 76 with a boundary-looking run where a soft break could fall, a line starting with a dot.
const awkwardText = Buffer.concat([
  Buffer.from('caf\xe9 = cr\xe8me \t\r\n', 'latin1'),
  Buffer.from('x'.repeat(74) + '--b1 and --b1-- inside a long line ' + '\xff'.repeat(100) + '\r\n', 'latin1'),
  Buffer.from('lone\rCR and lone\nLF\r\n.dot\r\n\r\n  \r\ntrailing tab\t', 'latin1'),
]);
const binary = Buffer.from(Array.from({ length: 5000 }, (_v, i) => (i * 131 + 7) % 256));

const multipart = Buffer.concat([
  lines(['Subject: =?utf-8?q?t?=', 'X-Raw: h\xe9ader stays', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
    'pre\xe4mble', '--b1', 'Content-Type: text/plain; charset=latin1', 'Content-Transfer-Encoding: 8bit', '', '']),
  awkwardText,
  lines(['', '--b1', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: binary', '', '']),
  binary,
  lines(['', '--b1', 'Content-Type: text/plain', '', 'seven bit part, left alone = as is', '--b1--', 'epilogue', '']),
]);

describe('7-bit downgrade', () => {
  it('decodes each converted leaf back to its original bytes, whatever the chunk sizes', async () => {
    const before = multipart.toString('latin1');
    const leavesBefore = leafParts(before);
    for (const sizes of [[multipart.length], [1], [7, 3, 64], [4096]]) {
      const out = await downgrade(multipart, sizes);
      const after = out.toString('latin1');
      const leavesAfter = leafParts(after);
      assert.equal(leavesAfter.length, leavesBefore.length);
      leavesBefore.forEach((leaf, i) => {
        assert.ok(decodeLeaf(after, leavesAfter[i]).equals(decodeLeaf(before, leaf)), `leaf ${i} differs with chunks ${sizes}`);
      });
      const body = after.slice(after.indexOf('\r\n\r\n') + 4);
      assert.doesNotMatch(body.replace('pre\xe4mble', ''), /[\x80-\xff]/);
      assert.doesNotMatch(body.replace(/\r\n/g, ''), /[\r\n]/);
      for (const l of body.split('\r\n')) assert.ok(l.length <= 76, `line of ${l.length}`);
      assert.ok(!/^--b1/m.test(body.replace(/^--b1(--)?$/gm, '')), 'an encoded line looks like a boundary');
      assert.ok(after.includes('X-Raw: h\xe9ader stays\r\n'), 'an 8-bit header field was changed');
      assert.ok(after.includes('Content-Type: text/plain\r\n\r\nseven bit part, left alone = as is\r\n--b1--\r\nepilogue\r\n'));
      assert.match(after, /Content-Type: application\/octet-stream\r\nContent-Transfer-Encoding: base64\r\n/);
    }
  });

  it('leaves a 7-bit message alone and reports 8-bit bytes it cannot convert', async () => {
    const ascii = lines(['Subject: a', '', 'only ascii', '']);
    const s1 = await scanSevenBit(chunked(ascii, [5]));
    assert.equal(s1.eightBit, false);
    assert.ok((await downgrade(ascii, [5])).equals(ascii));
    const headerOnly = lines(['Subject: gr\xfc\xdfe', '', 'ascii body', '']);
    const s2 = await scanSevenBit(chunked(headerOnly, [3]));
    assert.deepEqual([s2.eightBit, s2.residual8bit, s2.plan.leaves.size], [true, true, 0]);
    assert.ok((await downgrade(headerOnly)).equals(headerOnly));
  });

  it('labels a converted message without MIME-Version, and handles a line longer than its piece size', async () => {
    const long = Buffer.from('\xe9'.repeat(200_000) + '\r\n', 'latin1');
    const message = Buffer.concat([lines(['Subject: long', '', '']), long]);
    const out = await downgrade(message, [65_000]);
    const text = out.toString('latin1');
    assert.ok(text.startsWith('Subject: long\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'));
    const [leaf] = leafParts(text);
    assert.ok(decodeLeaf(text, leaf).equals(long));
  });
});

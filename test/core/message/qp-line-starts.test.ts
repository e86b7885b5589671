// The quoted-printable encoder never writes a line that opens with "-", "." or "From ": decoded text may hold the
// enclosing multipart's "--boundary" (sent as "=2D-boundary"), and re-encoding it literally would end the part there.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { QuotedPrintableEncoder } from '../../../core/message/seven-bit-encoders.ts';
import { decodeBody } from '../../../core/message/mime-leaves.ts';

/** `bytes` through one encoder, fed in pieces of the given sizes (repeated). */
function encode(bytes: Buffer, sizes: number[]): string {
  const e = new QuotedPrintableEncoder();
  const out: Buffer[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length];
    out.push(e.write(bytes.subarray(at, at + n)));
    at += n;
  }
  out.push(e.end());
  return Buffer.concat(out).toString('latin1');
}

const PIECES = ['-', '--B', '.', 'From ', 'From', 'Fro', 'F', 'Frost', ' ', '\t', '\r\n', '\r', '\n', '=', 'x'.repeat(70), 'ab', '\xe9', '\xff'];

/** A text made of the pieces the encoder must take care of, in a fixed pseudo-random order. */
function awkward(seed: number, count: number): Buffer {
  let s = seed;
  const next = () => { s = (s * 1103515245 + 12345) % 2 ** 31; return s; };
  return Buffer.from(Array.from({ length: count }, () => PIECES[next() % PIECES.length]).join(''), 'latin1');
}

function assertSafe(encoded: string, original: Buffer, label: string): void {
  assert.ok(decodeBody(encoded, 'quoted-printable').equals(original), `${label}: decodes to other bytes`);
  assert.doesNotMatch(encoded.replace(/\r\n/g, ''), /[\r\n]/, `${label}: a bare line break`);
  assert.doesNotMatch(encoded, /[^\t\x20-\x7e\r\n]/, `${label}: not 7-bit printable`);
  for (const line of encoded.split('\r\n')) {
    assert.ok(line.length <= 76, `${label}: line of ${line.length}`);
    assert.ok(!/^(?:-|\.|From )/.test(line), `${label}: a line opens with ${JSON.stringify(line.slice(0, 6))}`);
  }
}

/** The encoded bytes as mailparser reads them: the content of a quoted-printable attachment. */
async function mailparserReads(encoded: string): Promise<Buffer> {
  const raw = ['Content-Type: application/octet-stream; name=x.bin', 'Content-Disposition: attachment; filename=x.bin',
    'Content-Transfer-Encoding: quoted-printable', '', encoded].join('\r\n');
  const mail = await simpleParser(Buffer.from(raw, 'latin1'));
  return mail.attachments[0].content;
}

describe('quoted-printable line starts', () => {
  it('encodes a "-" that opens a line after a hard break, so "=2D-B" stays inside its part', () => {
    assert.equal(encode(Buffer.from('hi\r\n--B\r\nContent-Type: application/x-msdownload\r\n', 'latin1'), [1000]),
      'hi\r\n=2D-B\r\nContent-Type: application/x-msdownload\r\n');
    assert.equal(encode(Buffer.from('--B--', 'latin1'), [1000]), '=2D-B--');
  });

  it('encodes a leading "." and the F of a leading "From ", and leaves look-alikes as they are', () => {
    assert.equal(encode(Buffer.from('.\r\nFrom me\r\nFrost\r\nFrom\r\nFro', 'latin1'), [1]), '=2E\r\n=46rom me\r\nFrost\r\nFrom\r\nFro');
    assert.equal(encode(Buffer.from('From \r\n a -- .b From x', 'latin1'), [2]), '=46rom=20\r\n a -- .b From x');
  });

  it('keeps the rule where a soft break opens the line', () => {
    const long = Buffer.from(`${'y'.repeat(75)}--B ${'z'.repeat(74)}From x ${'w'.repeat(75)}.`, 'latin1');
    assertSafe(encode(long, [long.length]), long, 'soft breaks');
  });

  it('decodes to the same bytes and never opens a line unsafely, whatever the text and the chunking', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const text = awkward(seed, 300);
      for (const sizes of [[text.length], [1], [3, 7, 2], [64]]) assertSafe(encode(text, sizes), text, `seed ${seed}, chunks ${sizes}`);
      // Another reader's decoding too (a trailing encoded blank or CR is where readers differ, so it ends in a letter).
      const ended = Buffer.concat([text, Buffer.from('z')]);
      assert.ok((await mailparserReads(encode(ended, [5]))).equals(ended), `seed ${seed}: mailparser reads other bytes`);
    }
  });
});

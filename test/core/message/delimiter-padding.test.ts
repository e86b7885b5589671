// The parser's copy of a message without the transport padding of its delimiter lines (RFC 2046 §5.1.1): whatever
// way the bytes arrive in chunks, only lines of declared boundaries change, and the parsed view sees the part such a
// line opens and says the structure is ambiguous.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { DelimiterPadding } from '../../../core/message/delimiter-padding.ts';
import { parseMime } from '../../../core/message/mime-parse.ts';

const EXE = ['Content-Type: application/octet-stream; name="setup.exe"', 'Content-Disposition: attachment; filename="setup.exe"', 'Content-Transfer-Encoding: base64', '', 'TVqQAAMAAAAEAAAA'].join('\r\n');

function withBoundaryField(field: string, opening: string, closing: string): string {
  return ['Subject: t', 'MIME-Version: 1.0', field, '', '--BB', 'Content-Type: text/plain', '', 'See the attachment.', '--not-declared  ', `--BB${opening}`, EXE, `--BB--${closing}`, ''].join('\r\n');
}

async function filtered(text: string, chunkSize: number): Promise<{ out: string; padded: boolean }> {
  const bytes = Buffer.from(text, 'latin1');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const f = new DelimiterPadding();
  const out = await buffer(Readable.from(chunks).pipe(f));
  return { out: out.toString('latin1'), padded: f.padded };
}

describe('core/message/delimiter-padding', () => {
  const fields = [
    'Content-Type: multipart/mixed; boundary="BB"',
    'Content-Type: multipart/mixed;\r\n\tboundary=BB',
    'content-type:multipart/mixed; boundary*0="B"; boundary*1="B"',
  ];
  for (const field of fields) {
    for (const size of [1, 7, 64, 65_536]) {
      it(`drops the padding of declared delimiters only (${JSON.stringify(field.slice(0, 40))}, chunks of ${size})`, async () => {
        const { out, padded } = await filtered(withBoundaryField(field, ' \t ', '  '), size);
        assert.equal(out, withBoundaryField(field, '', ''));
        assert.ok(out.includes('--not-declared  \r\n'), 'a line of no declared boundary is kept as it is');
        assert.ok(padded);
      });
    }
  }

  it('passes a message without padding byte for byte, long lines included, and says nothing', async () => {
    const text = withBoundaryField(fields[0], '', '') + `${'c'.repeat(200_000)}\r\n--${'x'.repeat(3000)}  \r\n`;
    const { out, padded } = await filtered(text, 1000);
    assert.equal(out, text);
    assert.equal(padded, false);
  });

  it('the parsed view lists the attachment a padded line opens, and reports the structure as ambiguous', async () => {
    const raw = Buffer.from(withBoundaryField(fields[0], '  ', '  '), 'latin1');
    const parsed = await parseMime(Readable.from([raw]), async () => raw, raw.length);
    assert.deepEqual(parsed.attachments.map((a) => a.filename), ['setup.exe']);
    assert.match(parsed.text, /^See the attachment\.\n--not-declared/);
    assert.match(parsed.structure.ambiguous ?? '', /ends in white space/);
    const clean = Buffer.from(withBoundaryField(fields[0], '', ''), 'latin1');
    const plain = await parseMime(Readable.from([clean]), async () => clean, clean.length);
    assert.equal(plain.structure.ambiguous, undefined);
  });
});

// Removing header fields by name as a message streams past, in chunks of any size.
import assert from 'node:assert/strict';
import { HeaderFieldFilter, fieldRemoval, streamWithoutFields, withoutFields } from '../../../core/message/header-filter.ts';

/** Feeds `msg` in chunks of `size` bytes and joins what leaves. */
function filtered(msg: Buffer, remove: string[], size: number): string {
  const filter = new HeaderFieldFilter(fieldRemoval(remove));
  const out: Buffer[] = [];
  for (let at = 0; at < msg.length; at += size) out.push(...filter.write(msg.subarray(at, at + size)));
  out.push(...filter.end());
  return Buffer.concat(out).toString('latin1');
}

describe('header field filter', () => {
  it('removes named fields with their continuation lines and leaves every other byte as it came, however the chunks fall', () => {
    const cases: Array<[string, string[], string]> = [
      ['Subject: a\r\nX-Mailmoat-Spam: No\r\nFrom: b@c.example\r\n\r\nX-Mailmoat-Spam: No\r\n',
        ['x-mailmoat-spam'], 'Subject: a\r\nFrom: b@c.example\r\n\r\nX-Mailmoat-Spam: No\r\n'],
      ['X-Mailmoat-Level:\r\n\tLow\r\n  still low\r\nTo: x\r\n \tfolded to\r\n\r\nbody',
        ['x-mailmoat-*'], 'To: x\r\n \tfolded to\r\n\r\nbody'],
      // Bare LF line ends, a name spaced before its colon, upper case, and a line that is no field.
      ['X-MAILMOAT-Score : -5\nnot a field line\nSubject: kept\n\nbody\n',
        ['x-mailmoat-score'], 'not a field line\nSubject: kept\n\nbody\n'],
      // A message with no header fields, and one that ends inside its header section.
      ['\r\nSubject: in the body\r\n', ['subject'], '\r\nSubject: in the body\r\n'],
      ['Subject: gone\r\nX-Keep: 1\r\nSubj', ['subject'], 'X-Keep: 1\r\nSubj'],
      ['X-Keep: 1\r\nSubject: gone, no end of line', ['subject'], 'X-Keep: 1\r\n'],
      // A line starting with a colon names nothing; a lone CR before a line is kept with it.
      [': odd\r\n\rX-A: 1\r\nX-A: 2\r\n\r\n', ['x-a'], ': odd\r\n\rX-A: 1\r\n\r\n'],
      ['A: 1\r\n\r\nB: 2\r\n', [], 'A: 1\r\n\r\nB: 2\r\n'],
    ];
    for (const [input, remove, expected] of cases) {
      const msg = Buffer.from(input, 'latin1');
      for (let size = 1; size <= msg.length; size++) {
        assert.equal(filtered(msg, remove, size), expected, `${JSON.stringify(input)} in chunks of ${size}`);
      }
      assert.equal(withoutFields(msg, fieldRemoval(remove)).toString('latin1'), expected);
    }
  });

  it('removes a name alone on its line whose colon is folded onto the next, and keeps other lines without a colon', () => {
    const msg = Buffer.from('Subject: a\r\nX-Mailmoat-Spam\r\n : No\r\nX-MAILMOAT-RELEASED \t\r\n\t: yes\r\nX-Other\r\n : kept\r\nx-mailmoat-spam and more\r\n\r\nX-Mailmoat-Spam\r\n');
    const want = 'Subject: a\r\nX-Other\r\n : kept\r\nx-mailmoat-spam and more\r\n\r\nX-Mailmoat-Spam\r\n';
    for (const size of [1, 2, 3, 7, 64, msg.length]) assert.equal(filtered(msg, ['x-mailmoat-*'], size), want, `chunks of ${size}`);
  });

  it('keeps 8-bit bytes as they are, in names and values', () => {
    const msg = Buffer.concat([Buffer.from('Subject: caf'), Buffer.from([0xe9, 0x0d, 0x0a]), Buffer.from('X-N'), Buffer.from([0xe4]),
      Buffer.from(': v\r\nX-Drop: x\r\n\r\n'), Buffer.from([0xff, 0x00])]);
    const out = withoutFields(msg, fieldRemoval(['x-drop']));
    assert.deepEqual(out, Buffer.concat([msg.subarray(0, msg.indexOf('X-Drop')), Buffer.from('\r\n'), Buffer.from([0xff, 0x00])]));
  });

  it('takes a line with no colon in its first 1,000 bytes for no field, and keeps it', () => {
    const long = 'X-Mailmoat-Spam' + 'x'.repeat(1_000) + ': No\r\n';
    const msg = Buffer.from(`${long}X-Mailmoat-Spam: No\r\n\r\nbody`);
    for (const size of [1, 7, 999, 1_000, 1_001, msg.length]) assert.equal(filtered(msg, ['x-mailmoat-*'], size), `${long}\r\nbody`);
    const justIn = 'X' + 'y'.repeat(998) + ': v\r\n'; // its colon is the 1,000th byte
    assert.equal(filtered(Buffer.from(`${justIn}\r\n`), ['x' + 'y'.repeat(998)], 10), '\r\n');
  });

  it('removes a field spaced from its colon by more than 1,000 bytes of whitespace, which servers still read as that field', () => {
    for (const ws of [' '.repeat(1_200), '\t'.repeat(999), ' \t'.repeat(3_000)]) {
      const msg = Buffer.from(`Subject: a\r\nX-Mailmoat-Spam${ws}: No\r\n  folded on\r\nX-Keep: 1\r\n\r\nbody`);
      for (const remove of [['x-mailmoat-spam'], ['x-mailmoat-*']]) {
        for (const size of [1, 7, 1_000, 1_001, msg.length]) {
          assert.equal(filtered(msg, remove, size), 'Subject: a\r\nX-Keep: 1\r\n\r\nbody', `${JSON.stringify(remove)} in chunks of ${size}`);
        }
      }
    }
    // Other names spaced as far from their colon, and long starts that are not a name and spaces, are kept.
    const other = `X-Other${' '.repeat(1_200)}: v\r\nX-Mailmoat-Spam ${'y'.repeat(1_200)}: v\r\n\r\n`;
    assert.equal(filtered(Buffer.from(other), ['x-mailmoat-*'], 64), other);
  });

  it('matches a name ending in * as a prefix, and exact names otherwise', () => {
    const remove = fieldRemoval(['subject', 'x-mailmoat-*']);
    assert.equal(remove('subject'), true);
    assert.equal(remove('subjects'), false);
    assert.equal(remove('x-mailmoat-'), true);
    assert.equal(remove('x-mailmoat-anything'), true);
    assert.equal(remove('x-mailmoat'), false);
  });

  it('streams a header section of any length, passing body chunks through as they are', async () => {
    let kept = 0;
    const chunks = (async function* () {
      for (let i = 0; i < 40_000; i++) { // 4 MB of header fields
        const pad = Buffer.from(`X-Pad-${i}: ${'p'.repeat(90)}\r\n`);
        kept += pad.length;
        yield pad;
        if (i % 10_000 === 9_999) yield Buffer.from('X-Mailmoat-Spam:\r\n No\r\n');
      }
      yield Buffer.from('\r\nX-Mailmoat-Spam: in the body\r\n');
    })();
    const out: Buffer[] = [];
    for await (const piece of streamWithoutFields(chunks, fieldRemoval(['x-mailmoat-*']))) {
      assert.ok(piece.length <= 200, 'no piece gathers more than the chunk it came from');
      out.push(piece);
    }
    const text = Buffer.concat(out).toString('latin1');
    assert.equal(text.length, kept + '\r\nX-Mailmoat-Spam: in the body\r\n'.length);
    assert.deepEqual(text.match(/X-Mailmoat-Spam.*|^ No/gm), ['X-Mailmoat-Spam: in the body'], 'only the body\'s line is left');
  });
});

// Attachments inside attached messages (message/rfc822): listed after the message that holds them, with `within`.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { NESTED_MESSAGE_MAX_DEPTH, parseMime } from '../../../core/message/mime-parse.ts';

function mixed(parts: string[], boundary: string): string {
  return [
    'From: a@example.org', 'Subject: s', 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${boundary}"`, '',
    `--${boundary}`, 'Content-Type: text/plain', '', 'text', ...parts.flatMap((p) => [`--${boundary}`, p]), `--${boundary}--`, '',
  ].join('\r\n');
}
const file = (name: string, type = 'application/octet-stream') =>
  [`Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, '', 'content'].join('\r\n');
const forwarded = (name: string, inner: string) =>
  [`Content-Type: message/rfc822`, `Content-Disposition: attachment; filename="${name}"`, '', inner.replace(/\r\n$/, '')].join('\r\n');

const parse = (raw: string) => parseMime(Readable.from([Buffer.from(raw)]));

describe('core/message/mime-parse: attached messages', () => {
  it('lists the attachments of an attached message after it, naming where they are', async () => {
    const raw = mixed([forwarded('fwd.eml', mixed([file('inner.exe'), forwarded('deeper.eml', mixed([file('deep.js')], 'b3'))], 'b2')), file('after.pdf', 'application/pdf')], 'b1');
    const list = (await parse(raw)).attachments.map((a) => ({ name: a.filename, type: a.declaredType, within: a.within, partId: a.partId }));
    assert.deepEqual(list.map(({ name, within }) => [name, within]), [
      ['fwd.eml', undefined], ['inner.exe', ['fwd.eml']], ['deeper.eml', ['fwd.eml']], ['deep.js', ['fwd.eml', 'deeper.eml']], ['after.pdf', undefined],
    ]);
    assert.equal(list[0].type, 'message/rfc822');
    assert.ok(list[0].partId && list[4].partId, 'top-level attachments keep their part path');
    assert.equal(list[1].partId, undefined, 'a nested one has no part path of this message');
  });

  it(`stops ${NESTED_MESSAGE_MAX_DEPTH} messages deep`, async () => {
    let raw = mixed([file('bottom.exe')], 'b0');
    for (let i = 1; i <= NESTED_MESSAGE_MAX_DEPTH + 1; i++) raw = mixed([forwarded(`level${i}.eml`, raw)], `b${i}`);
    const names = (await parse(raw)).attachments.map((a) => a.filename);
    assert.equal(names.length, NESTED_MESSAGE_MAX_DEPTH + 1);
    assert.ok(!names.includes('bottom.exe'));
  });

  it('gives the declared type beside mailparser\'s guess from the name', async () => {
    const [a] = (await parse(mixed([file('readme.txt')], 'b1'))).attachments;
    assert.equal(a.declaredType, 'application/octet-stream');
    assert.equal(a.contentType, 'text/plain');
  });
});

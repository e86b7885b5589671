import assert from 'node:assert/strict';
import { decodeLeaf, leafParts, replaceLeaves } from '../../../core/message/mime-leaves.ts';

describe('MIME leaves', () => {
  it('reads nested multiparts and quoted-printable parts', () => {
    const text = 'Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary="in ner"\r\n\r\n'
      + '--in ner\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak =3D ok\r\n--in ner--\r\n--outer--\r\n';
    const leaves = leafParts(text);
    assert.equal(leaves.length, 1);
    assert.equal(decodeLeaf(text, leaves[0]).toString(), 'softbreak = ok');
  });

  it('reads a type with no semicolon before its boundary, and a part with no header fields as text/plain', () => {
    const text = 'Content-Type: Multipart/Mixed boundary=b\r\n\r\n--b\r\n\r\nplain\r\n--b\r\nContent-Type: text/html; name="a \\"1\\".htm"\r\n\r\n<p>x\r\n--b--\r\n';
    const leaves = leafParts(text);
    assert.deepEqual(leaves.map((l) => [l.contentType, l.filename, decodeLeaf(text, l).toString()]), [
      ['text/plain', undefined, 'plain'], ['text/html', 'a "1".htm', '<p>x'],
    ]);
  });

  it('replaces the edited leaves and keeps every other byte', () => {
    const text = 'Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n--b--\r\npost\r\n';
    const [one, , three] = leafParts(text);
    assert.equal(replaceLeaves(text, [{ leaf: one, with: '\r\n1' }, { leaf: three, with: 'X-A: 3\r\n\r\n3' }]),
      'Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\n1\r\n--b\r\n\r\ntwo\r\n--b\r\nX-A: 3\r\n\r\n3\r\n--b--\r\npost\r\n');
    assert.equal(replaceLeaves(text, []), text);
  });

  it('lists the leaves of a nested multipart with 200,000 parts, and stops nesting at depth 20', () => {
    const inner = 'Content-Type: multipart/mixed; boundary=in\r\n\r\n' + '--in\r\n\r\nx\r\n'.repeat(200_000) + '--in--\r\n';
    const text = 'Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\n' + inner + '--out--\r\n';
    assert.equal(leafParts(text).length, 200_000);
    let bomb = 'x';
    for (let d = 5_000; d > 0; d--) bomb = `Content-Type: multipart/mixed; boundary=b${d}\r\n\r\n--b${d}\r\n${bomb}\r\n--b${d}--\r\n`;
    const [leaf] = leafParts(bomb);
    assert.equal(leaf.contentType, 'multipart/mixed', 'the part at depth 20 is one leaf');
  });

  it('decodes only the first bytes of a leaf when asked, cut after a line break', () => {
    const qp = 'Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n' + 'caf=C3=A9 line\r\n'.repeat(1000);
    const [leaf] = leafParts(qp);
    // 16 bytes a line as sent: 6 whole lines in the first 100.
    assert.equal(decodeLeaf(qp, leaf, 100).toString(), 'café line\r\n'.repeat(6));
    assert.equal(decodeLeaf(qp, leaf).length, Buffer.byteLength('café line\r\n') * 1000);
    // No line break within the bytes asked for: cut at that many.
    const long = 'Content-Transfer-Encoding: base64\r\n\r\n' + Buffer.from('x'.repeat(3000)).toString('base64');
    assert.equal(decodeLeaf(long, leafParts(long)[0], 400).toString(), 'x'.repeat(300));
  });
});

import assert from 'node:assert/strict';
import { defangMessage } from '../../../plugins/urlbl/defang.ts';

const listed = (url: string) => url.includes('bad.example');
const defang = (raw: string) => defangMessage(Buffer.from(raw, 'latin1'), listed, 'link removed')?.toString('latin1');

describe('urlbl defang', () => {
  it('rewrites base64 and quoted-printable parts of nested multiparts and keeps every other byte', () => {
    const b64 = Buffer.from('Visit http://bad.example/win now\r\n').toString('base64');
    const raw = 'From: a@b.test\r\nContent-Type: multipart/mixed; boundary="out \\"er\\""\r\n\r\npreamble\r\n'
      + '--out "er"\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n'
      + `--in\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`
      + '--in\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D"http://bad.example/x">caf=E9</a>\r\n'
      + '--in--\r\n'
      + '--out "er"\r\nContent-Type: text/plain\r\n\r\nkeep http://good.example/ here\r\n'
      + '--out "er"--\r\nepilogue\r\n';
    const out = defang(raw)!;
    const parts = out.split('--in\r\n');
    assert.equal(parts.length, 3);
    assert.equal(Buffer.from(parts[1].split('\r\n\r\n')[1], 'base64').toString(), 'Visit link removed now\r\n');
    assert.match(parts[2], /charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D"link removed">caf=C3=A9<\/a>\r\n--in--/);
    // Outside the two rewritten leaves, nothing moved.
    assert.ok(out.startsWith(raw.slice(0, raw.indexOf('--in\r\n'))));
    assert.ok(out.endsWith(raw.slice(raw.indexOf('--in--'))));
  });

  it('gives a part with no header fields the headers of its new content', () => {
    const raw = 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nsee http://bad.example/ today\r\n--b--\r\n';
    assert.equal(defang(raw), 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee link removed today\r\n--b--\r\n');
  });

  it('keeps the other Content-Type parameters whole, quoted values with a ";" in them included', () => {
    const raw = 'Content-Type: text/plain; charset=us-ascii; format=flowed; name="a;charset=x \\"c\\".txt"\r\n\r\ngo to http://bad.example/\r\n';
    assert.equal(defang(raw), 'Content-Type: text/plain; charset=utf-8; format=flowed; name="a;charset=x \\"c\\".txt"\r\n\r\ngo to link removed\r\n');
  });

  it('leaves attachments, unlisted links and parts that are not text alone', () => {
    const raw = 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhttp://good.example/\r\n'
      + '--b\r\nContent-Type: application/octet-stream\r\n\r\nhttp://bad.example/\r\n--b--\r\n';
    assert.equal(defang(raw), undefined);
  });
});

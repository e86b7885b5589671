import assert from 'node:assert/strict';
import { extendedParam, mimeParam, mimeParamText, paramValues, parseMimeValue } from '../../../core/message/mime-params.ts';

describe('MIME parameters', () => {
  it('reads the type and parameters, quoted or not, names in lower case', () => {
    const v = parseMimeValue('Multipart/Mixed; BOUNDARY="=_b 1"; charset=utf-8;name*0=a; junk');
    assert.equal(v.type, 'multipart/mixed');
    assert.deepEqual({ ...v.params }, { boundary: '=_b 1', charset: 'utf-8', 'name*0': 'a' });
    assert.equal(mimeParam('text/plain', 'charset'), undefined);
    assert.equal(mimeParam(undefined, 'charset'), undefined);
    assert.equal(parseMimeValue('').type, '');
  });

  it('undoes backslash escapes in quoted values', () => {
    assert.equal(mimeParam('attachment; filename="a \\"b\\".txt"', 'filename'), 'a "b".txt');
    assert.equal(mimeParam('attachment; filename="c:\\\\x\\\\y.exe"; size=3', 'filename'), 'c:\\x\\y.exe');
    assert.equal(mimeParam('attachment; filename="a;b c=d.txt"; size=3', 'size'), '3');
  });

  it('reads what a mail client reads in headers that break the rules', () => {
    // no semicolon before the parameter, spaces round the =, a quote that never closes
    assert.equal(mimeParam('multipart/mixed boundary=xyz', 'boundary'), 'xyz');
    assert.equal(mimeParam('text/plain ;  charset  =  "iso-8859-1"', 'charset'), 'iso-8859-1');
    assert.equal(mimeParam('attachment; filename="never closed.exe', 'filename'), 'never closed.exe');
    // the first of two counts, so two readers can never pick different ones
    assert.equal(mimeParam('multipart/mixed; boundary=first; boundary=second', 'boundary'), 'first');
    // a name without = is not a parameter, and does not hide the next one
    assert.equal(mimeParam('text/plain; flowed; charset=utf-8', 'charset'), 'utf-8');
  });

  it('reads 512 KB of escaped quotes, or of names without values, in one pass', function () {
    // A quote that never closes, or a run of names none of which has a value: a reader that rescanned from each
    // position would be quadratic here.
    this.timeout(10_000);
    const unclosed = 'multipart/mixed; a="' + '\\"'.repeat(256 * 1024) + '; boundary=b';
    assert.equal(mimeParam(unclosed, 'boundary'), undefined);
    assert.equal(mimeParam(unclosed, 'a')!.length, 256 * 1024 + '; boundary=b'.length);
    const names = 'multipart/mixed; ' + 'x '.repeat(256 * 1024) + 'boundary=b';
    assert.equal(mimeParam(names, 'boundary'), 'b');
  });

  it('writes parameters the reader reads back, quoting only what is not a token', () => {
    assert.equal(mimeParamText('format', 'flowed'), 'format=flowed');
    for (const value of ['a;charset=x "c".txt', 'café', '', 'c:\\x', 'a b']) {
      const text = mimeParamText('name', value);
      assert.match(text, /^name="/);
      assert.equal(mimeParam(`text/plain; ${text}; size=1`, 'name'), value);
    }
  });

  it('reads a parameter in RFC 2231 form, whole or in sections, in the charset it names', () => {
    const read = (value: string, name: string) => extendedParam(parseMimeValue(value).params, name);
    assert.equal(read("attachment; filename*=utf-8''caf%C3%A9.pdf", 'filename'), 'café.pdf');
    assert.equal(read("attachment; filename*=''plain%20name.txt", 'filename'), 'plain name.txt');
    assert.equal(read("x; name*0*=iso-8859-1'fr'r%E9sum; name*1=\".pdf\"", 'name'), 'résum.pdf');
    assert.equal(read('x; name*0="inv"; name*1="oice.exe"', 'name'), 'invoice.exe');
    assert.equal(read('attachment; filename="plain.doc"', 'filename'), undefined, 'a plain value is no RFC 2231 form');
    assert.equal(read("attachment; filename*=koi8-r''%F0%D2%C9%D7%C5%D4.txt", 'filename'), 'Привет.txt');
  });

  it('gives every value of a parameter named twice, in each form, decoded', () => {
    const values = (value: string, name: string) => paramValues(parseMimeValue(value), name);
    assert.deepEqual(values('attachment; filename="readme.txt"; filename="setup.exe"', 'filename'), ['readme.txt', 'setup.exe']);
    assert.deepEqual(values("attachment; filename=\"=?utf-8?B?c2V0dXAuZXhl?=\"; filename*=utf-8''caf%C3%A9.pdf; filename*=''x.scr", 'filename'), ['setup.exe', 'café.pdf', 'x.scr']);
    assert.deepEqual(values('x; name*0="a"; name*1=".txt"; name*1=".exe"', 'name'), ['a.txt', 'a.exe']);
    assert.deepEqual(values('attachment; filename="same.txt"; filename="same.txt"; size=3', 'filename'), ['same.txt']);
    assert.deepEqual(values('attachment', 'filename'), []);
    // raw 8-bit bytes (held as latin1) read as UTF-8, as mailparser reads them
    assert.deepEqual(values(Buffer.from('attachment; filename="résumé.exe"').toString('latin1'), 'filename'), ['résumé.exe']);
  });
});

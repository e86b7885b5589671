// What the tokenizer's faster paths must still read as the slower ones did: charset names in every form a decoder
// takes them, and host names that need trimming beside those that do not.
import assert from 'node:assert/strict';
import { decodeCharset, decodeWords } from '../../../plugins/bayes/engine/mime.ts';
import { hostNamesIn } from '../../../plugins/bayes/engine/header-parts.ts';
import { tokenize } from '../../../plugins/bayes/engine/tokenizer.ts';

describe('bayes tokenizer after the audit', () => {
  describe('charset names', () => {
    it('takes a name in any case and with ASCII spaces around it, as TextDecoder does', () => {
      for (const name of ['ISO-8859-1', ' latin1 ', '\tIso_8859-1:1987\r\n', 'windows-1252']) assert.equal(decodeCharset('caf\xe9', name), 'café', name);
      assert.equal(decodeCharset('\xf0\xd2\xc9\xd7\xc5\xd4', 'KOI8-R'), 'Привет');
      assert.equal(decodeWords('=?Windows-1251?B?z/Do4uXy?= =?GB2312?B?xOO6ww==?='), 'Привет你好');
    });

    it('leaves the bytes as they are for a name no decoder has, however often it comes', () => {
      for (let i = 0; i < 2000; i++) assert.equal(decodeCharset('caf\xe9', `x-made-up-${i}`), 'caf\xe9');
      for (const name of ['utf-8\xa0', 'utf-\u00178', 'x'.repeat(100_000), 'iso-2022-kr']) assert.equal(decodeCharset('caf\xe9', name), 'caf\xe9', name);
      assert.ok(tokenize('Content-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9 au lait\n').has('café'), 'known names still work after the cache was emptied');
    });
  });

  describe('host names in Received', () => {
    it('keeps whole names as they are and trims the others to letters or digits at each end', () => {
      assert.deepEqual(hostNamesIn('mx1.mail.example.com 10.0.0.1 a.b'), ['mx1.mail.example.com', '10.0.0.1', 'a.b']);
      assert.deepEqual(hostNamesIn('-a.b.c- --.x.y .p.q. r.-.s t_u.v.w x..y.z'), ['a.b.c', 'x.y', 'p.q', 'r.-.s', 'v.w', 'y.z']);
      assert.deepEqual(hostNamesIn(`${'a.'.repeat(127)}b ${'a.'.repeat(126)}b`), [`${'a.'.repeat(126)}b`]);
    });
  });
});

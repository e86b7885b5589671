// Encoded words in a charset Node does not know are shown as written (RFC 2047 §6.2), in the digest and the preview
// page alike (both show a header through shownText): their bytes read as Latin-1 had been shown as garbage text.
import assert from 'node:assert/strict';
import { decodeWords } from '../../../core/text/encoded-words.ts';
import { knowsCharset } from '../../../core/text/charset.ts';
import { shownText } from '../../../core/quarantine/summary.ts';

describe('encoded words in an unknown charset', () => {
  it('knows the charsets TextDecoder reads, by any of their labels, and no others', () => {
    for (const c of ['utf-8', 'UTF-8', 'iso-8859-1', 'latin1', 'windows-1252', 'koi8-r', 'iso-2022-jp', 'gb18030']) assert.ok(knowsCharset(c), c);
    for (const c of ['x-unknown', 'unknown-8bit', 'utf-9', 'x'.repeat(60)]) assert.ok(!knowsCharset(c), c);
  });

  it('leaves such a word as written, with the space beside it, and decodes the words around it', () => {
    assert.equal(decodeWords('=?x-unknown?B?5pel?='), '=?x-unknown?B?5pel?=');
    assert.equal(decodeWords('Re: =?x-unknown?B?5pel?= =?x-unknown?Q?caf=E9?= now'), 'Re: =?x-unknown?B?5pel?= =?x-unknown?Q?caf=E9?= now');
    assert.equal(decodeWords('=?utf-8?B?5pel?= =?x-unknown?B?5pel?= =?UTF-8?Q?caf=C3=A9?='), '日 =?x-unknown?B?5pel?= café');
  });

  it('still decodes known charsets, and joins adjacent words of one charset', () => {
    assert.equal(decodeWords('=?iso-8859-1?Q?caf=E9?= =?utf-8?B?5pel?='), 'café日');
    assert.equal(decodeWords('=?UTF-8?B?0J/R?= =?UTF-8?B?kdGC0YA=?='), 'Пётр');
  });

  it('reaches the digest and the preview as written, not as Latin-1 letters', () => {
    assert.equal(shownText('Invoice =?x-unknown?B?5pel?='), 'Invoice =?x-unknown?B?5pel?=');
    assert.doesNotMatch(shownText('=?x-unknown?B?5pel?='), /æ/);
  });
});

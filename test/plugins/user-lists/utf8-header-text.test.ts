// Pure logic behind reading raw header bytes (unit tests): UTF-8 where the bytes are UTF-8, Windows-1252 otherwise, a cut
// that splits a UTF-8 character, and an author domain compared with the dmarc plugin's in either form.
import assert from 'node:assert/strict';
import { headerValueText } from '../../../core/text/header-value.ts';
import { authFacts, fromAuthenticated } from '../../../plugins/user-lists/auth.ts';
import type { Finding } from '../../../core/index.ts';
import { listEntry } from '../../../core/lists/user-lists.ts';

const bytes = (text: string, enc: BufferEncoding = 'utf8') => Buffer.from(text, enc).toString('latin1');

describe('user-lists: header bytes as text', () => {
  it('reads valid UTF-8 as UTF-8 and anything else as Windows-1252, ASCII and text as they are', () => {
    assert.equal(headerValueText(bytes('Пётр <пётр@bücher.example>')), 'Пётр <пётр@bücher.example>');
    assert.equal(headerValueText(bytes('Jörg <j@old.example>', 'latin1')), 'Jörg <j@old.example>');
    assert.equal(headerValueText('Preis: 5 \x80 \x96 netto'), 'Preis: 5 € – netto', 'Windows-1252, not Lat-1 control characters');
    assert.equal(headerValueText('plain ascii'), 'plain ascii');
    assert.equal(headerValueText('already text: 請求書'), 'already text: 請求書');
  });

  it('keeps a list entry typed in decomposed form (NFD) as the composed mailbox (NFC)', () => {
    assert.equal(listEntry('Jose\u0301@example.org'), listEntry('Jos\u00e9@example.org'));
    assert.equal(listEntry('jose\u0301@example.org'), 'jos\u00e9@example.org');
  });

  it('leaves out a UTF-8 character a cut split only when told the value was cut', () => {
    const whole = bytes('größe');
    const split = whole.slice(0, whole.length - 2); // `gr`, `ö`, then the first byte of `ß`
    assert.equal(headerValueText(split, true), 'grö');
    assert.equal(headerValueText(split), split, 'not cut: invalid UTF-8 is Windows-1252');
    assert.equal(headerValueText(bytes('café', 'latin1'), true), 'café', 'a Latin-1 letter at the end is not taken for a split character');
  });
});

describe('user-lists: an internationalized From domain and the dmarc finding', () => {
  const dmarc = (symbol: string, detail: string): Finding => ({ plugin: 'dmarc', symbol, score: 0, detail });
  it('counts a DMARC pass named in Unicode or A-label form for the A-label From domain', () => {
    for (const named of ['bücher.example', 'xn--bcher-kva.example']) {
      const facts = authFacts([dmarc('DMARC_PASS', `pass from=${named} policy=reject spf=pass dkim_aligned=${named}`)]);
      assert.equal(fromAuthenticated(facts, 'xn--bcher-kva.example'), 'DMARC pass', named);
      assert.equal(fromAuthenticated(facts, 'bücher.example'), 'DMARC pass', named);
    }
  });
});

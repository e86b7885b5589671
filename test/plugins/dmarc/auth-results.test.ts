// Reading and writing Authentication-Results (RFC 8601) values.
import assert from 'node:assert/strict';
import { authenticationResults, authservIdOf } from '../../../plugins/dmarc/auth-results.ts';

describe('dmarc Authentication-Results', () => {
  it('reads the authserv-id of a value, comments left out and lower-cased', () => {
    assert.equal(authservIdOf('MX.Example.org; spf=pass'), 'mx.example.org');
    assert.equal(authservIdOf('(forged by us) mx.example.org (v1) 1; dkim=none'), 'mx.example.org');
    assert.equal(authservIdOf('  ; none'), '');
    assert.equal(authservIdOf('(open mx.example.org; x'), '(open');
  });

  it('reads the authserv-id of 400 KB of unclosed comments in one pass', function () {
    // /\(.*?\)/g rescanned to the end from every `(`: 27 s at 160 KB.
    this.timeout(10_000);
    assert.equal(authservIdOf(`${'('.repeat(400_000)}; spf=pass`), '('.repeat(400_000));
  });

  it('writes one line of printable ASCII', () => {
    assert.equal(authenticationResults('mx.example.org', ['spf=pass\r\n smtp.mailfrom=a@b', 'dkim=none (ü)']), 'mx.example.org; spf=pass smtp.mailfrom=a@b; dkim=none (?)');
    assert.equal(authenticationResults('mx.example.org', []), 'mx.example.org; none');
  });
});

// Reading and writing Authentication-Results (RFC 8601) values.
import assert from 'node:assert/strict';
import { authenticationResults, authservIdOf, dmarcClause, spfClause } from '../../../plugins/dmarc/auth-results.ts';

describe('dmarc Authentication-Results', () => {
  it('reads the authserv-id of a value, comments left out and lower-cased', () => {
    assert.equal(authservIdOf('MX.Example.org; spf=pass'), 'mx.example.org');
    assert.equal(authservIdOf('(forged by us) mx.example.org (v1) 1; dkim=none'), 'mx.example.org');
    assert.equal(authservIdOf('(a; (nested) b) mx.example.org; dkim=none'), 'mx.example.org');
    assert.equal(authservIdOf('mx.example.org;spf=pass'), 'mx.example.org');
    assert.equal(authservIdOf('  ; none'), '');
  });

  it('reads a quoted authserv-id (RFC 8601 allows a quoted string) and drops the trailing dot of a host name', () => {
    assert.equal(authservIdOf('"mx.example.net"; dmarc=pass'), 'mx.example.net');
    assert.equal(authservIdOf('"MX.Example.NET." 1; dmarc=pass'), 'mx.example.net');
    assert.equal(authservIdOf('MX.Example.NET.; dmarc=pass'), 'mx.example.net');
    assert.equal(authservIdOf('"mx\\.example.net"; dmarc=pass'), 'mx.example.net');
  });

  it('reads no authserv-id behind a comment or quoted string that never closes', () => {
    assert.equal(authservIdOf('(open mx.example.org; x'), '');
    assert.equal(authservIdOf('"mx.example.org; x'), '');
  });

  it('reads the authserv-id of 400 KB of unclosed comments or quotes in one pass', function () {
    // /\(.*?\)/g rescanned to the end from every `(`: 27 s at 160 KB.
    this.timeout(10_000);
    assert.equal(authservIdOf(`${'('.repeat(400_000)}; spf=pass`), '');
    assert.equal(authservIdOf(`${'() '.repeat(200_000)}mx.example.org; spf=pass`), 'mx.example.org');
    assert.equal(authservIdOf(`"${'\\"'.repeat(200_000)}; spf=pass`), '');
  });

  it('writes smtp.mailfrom as the envelope address, or postmaster@<HELO name> for a null sender', () => {
    assert.equal(spfClause({ result: 'pass', identity: 'mailfrom', domain: 'example.org' }, 'a@example.org'), 'spf=pass smtp.mailfrom=a@example.org');
    assert.equal(spfClause({ result: 'pass', identity: 'mailfrom', domain: 'mail.example.org' }, ''), 'spf=pass smtp.mailfrom=postmaster@mail.example.org');
    assert.equal(spfClause({ result: 'none', identity: 'mailfrom', domain: '-' }, ''), 'spf=none');
  });

  it('writes a dmarc clause with the From domain as header.from and no header.d (RFC 7489 11.2)', () => {
    assert.equal(dmarcClause('pass', 'p=REJECT arc=none', 'sub.example.org'), 'dmarc=pass (p=REJECT arc=none) header.from=sub.example.org');
    assert.equal(dmarcClause('permerror', '', 'example.org'), 'dmarc=permerror header.from=example.org');
    assert.equal(dmarcClause('none', 'a (b) c\\', 'example.org'), 'dmarc=none (a \\(b\\) c\\\\) header.from=example.org');
  });

  it('writes one line of printable ASCII', () => {
    assert.equal(authenticationResults('mx.example.org', ['spf=pass\r\n smtp.mailfrom=a@b', 'dkim=none (ü)']), 'mx.example.org; spf=pass smtp.mailfrom=a@b; dkim=none (?)');
    assert.equal(authenticationResults('mx.example.org', []), 'mx.example.org; none');
  });
});

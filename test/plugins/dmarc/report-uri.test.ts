// rua= destinations (RFC 7489 6.2, 6.4) and the report's record text: pure logic, no gateway.
import assert from 'node:assert/strict';
import { MAX_URIS, reportAddresses } from '../../../plugins/dmarc/report-uri.ts';
import { decodeRecord, encodeRecord, type ReportRecord } from '../../../plugins/dmarc/report-record.ts';
import { reportIp } from '../../../plugins/dmarc/report-facts.ts';

describe('dmarc report destinations', () => {
  it('reads mailto: URIs with their size limits in powers of two', () => {
    const { addresses, unused } = reportAddresses('mailto:a@Example.COM!10m, mailto:b@example.com!512k,mailto:c@example.com!2048,mailto:d@example.com');
    assert.deepEqual(addresses.map((a) => [a.address, a.domain, a.maxBytes]), [
      ['a@example.com', 'example.com', 10 * 2 ** 20],
      ['b@example.com', 'example.com', 512 * 2 ** 10],
      ['c@example.com', 'example.com', 2048],
      ['d@example.com', 'example.com', undefined],
    ]);
    assert.deepEqual(unused, []);
  });

  it('decodes percent-encoding, drops mailto headers, and leaves out other schemes and broken addresses with the reason', () => {
    const { addresses, unused } = reportAddresses('mailto:dmarc%2Breports@example.com?subject=x,https://example.com/r,mailto:not-an-address,mailto:%zz@example.com');
    assert.deepEqual(addresses.map((a) => a.address), ['dmarc+reports@example.com']);
    assert.deepEqual(unused.map((u) => u.why), [
      'https: is not a scheme we send reports to (mailto: only)', 'not a plain ASCII address', 'malformed percent-encoding',
    ]);
  });

  it(`takes at most ${MAX_URIS} destinations, and each address once`, () => {
    const list = Array.from({ length: MAX_URIS + 2 }, (_, i) => `mailto:r${i}@example.com`);
    const { addresses, unused } = reportAddresses(['mailto:r0@example.com!1k', ...list].join(','));
    assert.equal(addresses.length, MAX_URIS);
    assert.equal(addresses[0].maxBytes, 1024, 'the first of an address wins');
    assert.equal(unused.length, 2);
    assert.match(unused[0].why, /more than 5 destinations/);
  });
});

describe('dmarc report records', () => {
  const record: ReportRecord = {
    sourceIp: '192.0.2.1', headerFrom: 'example.com', envelopeFrom: '', disposition: 'quarantine', dkim: 'fail', spf: 'pass',
    reasons: [{ type: 'sampled_out', comment: 'pct=50' }, { type: 'local_policy' }],
    dkimAuth: [{ domain: 'example.com', selector: 's1', result: 'fail', human: 'body hash did not verify' }, { domain: 'list.example', result: 'pass' }],
    spfAuth: { domain: 'mx.example.com', scope: 'helo', result: 'pass' },
  };

  it('keeps a record as text that reads back the same, equal records as equal text', () => {
    const text = encodeRecord(record);
    assert.deepEqual(decodeRecord(text), record);
    assert.equal(encodeRecord(structuredClone(record)), text);
  });

  it('reads no record from text that is not one', () => {
    for (const text of ['', 'null', '[]', '{"a":1}', JSON.stringify(['1', 'a', 'b', 'reject-ish', 1, 1, [], [], ['d', 'mfrom', 'pass']])]) {
      assert.equal(decodeRecord(text), undefined, text);
    }
  });

  it('writes addresses as the schema\'s IPAddress pattern wants them', () => {
    assert.equal(reportIp('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(reportIp('2001:db8::1'), '2001:db8:0:0:0:0:0:1');
    assert.equal(reportIp('2001:DB8:0:0:1::'), '2001:db8:0:0:1:0:0:0');
    assert.equal(reportIp('198.51.100.9'), '198.51.100.9');
  });
});

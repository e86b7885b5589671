// Unit tests of SPF record parsing beyond the conformance suites: the domain-end check on hostile input.
import assert from 'node:assert/strict';
import { parseDomainSpec, parseRecord, SpfSyntaxError } from '../../../plugins/spf/lib/record.ts';

describe('spf parseRecord', () => {
  it('rejects a 200 KB domain-spec whose last label ends in a bad character, in linear time', function () {
    this.timeout(10_000);
    // The old end-of-spec regex took about a minute at 160 KB on this shape.
    const record = `v=spf1 include:x.${'a'.repeat(200_000)}_ -all`;
    assert.throws(() => parseRecord(record), (err: unknown) => err instanceof SpfSyntaxError && /^bad domain "x\.a+…$/.test(err.message) && err.message.length === 301);
  });

  it('accepts a 200 KB last label that is a valid toplabel', function () {
    this.timeout(10_000);
    const spec = `x.${'a1-'.repeat(66_000)}z`;
    assert.deepEqual(parseDomainSpec(spec, 'include'), [{ kind: 'literal', text: spec }]);
  });

  it('checks the end of a literal domain-spec against the RFC 7208 toplabel grammar', () => {
    const valid = ['example.com', 'example.com.', '.com', 'x.COM', 'x.9a', 'x.a9', 'x.1-2', 'x.a--b', 'a..b.c', '%{d}.org'];
    const invalid = ['com', 'com.', 'x.123', 'x.-a', 'x.a-', 'x.-', 'x.com..', 'x.c_m', 'x.', 'x..', '%{d}.1'];
    for (const spec of valid) assert.doesNotThrow(() => parseDomainSpec(spec, 'include'), spec);
    for (const spec of invalid) assert.throws(() => parseDomainSpec(spec, 'include'), SpfSyntaxError, spec);
  });
});

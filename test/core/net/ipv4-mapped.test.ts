// The core's one text of a client address (normalizeIp) and the PROXY v1 header check, as pure functions: every
// spelling of an IPv4-mapped address is its IPv4 address; other IPv6 addresses are in RFC 5952 form.
import assert from 'node:assert/strict';
import { CidrList, normalizeIp } from '../../../core/net/cidr.ts';
import { proxyHeaderProblem } from '../../../core/smtp/proxy-v1.ts';

describe('normalizeIp', () => {
  it('gives every spelling of an IPv4-mapped address its dotted IPv4 form', () => {
    for (const a of ['::ffff:192.0.2.129', '::FFFF:192.0.2.129', '::ffff:c000:281', '::ffff:C000:0281', '0:0:0:0:0:ffff:c000:281', '0::ffff:192.0.2.129']) {
      assert.equal(normalizeIp(a), '192.0.2.129', a);
    }
  });

  it('leaves addresses that only look alike as IPv6 (IPv4-translated, NAT64, IPv4-compatible)', () => {
    assert.equal(normalizeIp('::ffff:0:c000:281'), '::ffff:0:c000:281');
    assert.equal(normalizeIp('64:ff9b::192.0.2.129'), '64:ff9b::c000:281');
    assert.equal(normalizeIp('::192.0.2.129'), '::c000:281');
  });

  it('writes other IPv6 addresses in RFC 5952 form, without a zone index', () => {
    assert.equal(normalizeIp('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normalizeIp('2001:0DB8:0000:0000:0000:0000:0000:0005'), '2001:db8::5');
    assert.equal(normalizeIp('fe80::1%eth0'), 'fe80::1');
  });

  it('returns what is not an address as it is, for the caller to refuse', () => {
    assert.equal(normalizeIp('c000:281'), 'c000:281');
    assert.equal(normalizeIp(''), '');
  });

  it('lets an IPv4 deny list match a mapped client in hex', () => {
    assert.equal(new CidrList(['192.0.2.128/25']).has('::ffff:c000:281'), true);
  });
});

describe('proxyHeaderProblem', () => {
  it('takes well-formed TCP4, TCP6 and UNKNOWN headers', () => {
    assert.equal(proxyHeaderProblem('PROXY TCP4 192.0.2.7 127.0.0.1 40000 25'), undefined);
    assert.equal(proxyHeaderProblem('PROXY TCP6 ::ffff:c000:281 ::1 1 25'), undefined);
    assert.equal(proxyHeaderProblem('PROXY UNKNOWN'), undefined);
    assert.equal(proxyHeaderProblem('PROXY UNKNOWN anything at all'), undefined);
  });

  it('refuses addresses of the other family, a family it does not know, and ports that are not ports', () => {
    assert.match(proxyHeaderProblem('PROXY TCP4 2001:db8::5 127.0.0.1 1 25') ?? '', /source address is not IPv4/);
    assert.match(proxyHeaderProblem('PROXY TCP6 192.0.2.7 ::1 1 25') ?? '', /source address is not IPv6/);
    assert.match(proxyHeaderProblem('PROXY TCP6 ::1 127.0.0.1 1 25') ?? '', /destination address is not IPv6/);
    assert.match(proxyHeaderProblem('PROXY UDP4 192.0.2.7 127.0.0.1 1 25') ?? '', /unknown protocol family/);
    assert.match(proxyHeaderProblem('PROXY TCP4 192.0.2.7 127.0.0.1 70000 25') ?? '', /ports/);
    assert.match(proxyHeaderProblem('PROXY TCP4 192.0.2.7 127.0.0.1 1') ?? '', /ports/);
  });
});

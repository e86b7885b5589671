// Which client and which scheme a request is judged on behind a reverse proxy: pure logic, so plain values in.
import assert from 'node:assert/strict';
import { requestOrigin } from '../../../core/http/forwarded.ts';
import { CidrList } from '../../../core/net/cidr.ts';

const proxies = new CidrList(['10.0.0.0/8', '2001:db8:1::/48']);
const trusted = (ip: string) => proxies.has(ip);

describe('requestOrigin (X-Forwarded-For and -Proto behind trusted proxies)', () => {
  it('ignores both headers from a peer that is not a trusted proxy', () => {
    const o = requestOrigin('::ffff:198.51.100.4', false, { 'x-forwarded-for': '192.0.2.7', 'x-forwarded-proto': 'https' }, trusted);
    assert.deepEqual(o, { client: '198.51.100.4', tls: false });
  });

  it('takes the right-most address that is not a trusted proxy, so a client cannot forge the left of the list', () => {
    const o = requestOrigin('10.0.0.5', false, { 'x-forwarded-for': '127.0.0.1, 192.0.2.7, 10.1.2.3', 'x-forwarded-proto': 'https' }, trusted);
    assert.deepEqual(o, { client: '192.0.2.7', tls: true, proxy: '10.0.0.5' });
  });

  it('joins repeated headers, and reads ports and brackets as proxies write them', () => {
    assert.equal(requestOrigin('10.0.0.5', false, { 'x-forwarded-for': ['192.0.2.9', '10.9.9.9:4431'] }, trusted).client, '192.0.2.9');
    assert.equal(requestOrigin('10.0.0.5', false, { 'x-forwarded-for': '[2001:db8:2::7]:51000' }, trusted).client, '2001:db8:2::7');
    assert.equal(requestOrigin('2001:db8:1::2', false, { 'x-forwarded-for': '192.0.2.1:80, [2001:db8:1::9]' }, trusted).client, '192.0.2.1');
  });

  it('keeps the peer when a trusted proxy sends no X-Forwarded-For, and the left-most when every hop is trusted', () => {
    assert.deepEqual(requestOrigin('10.0.0.5', true, {}, trusted), { client: '10.0.0.5', tls: true, proxy: '10.0.0.5' });
    assert.equal(requestOrigin('10.0.0.5', false, { 'x-forwarded-for': '10.3.3.3, 10.4.4.4' }, trusted).client, '10.3.3.3');
  });

  it('names no allowed client when the address to take is not an address', () => {
    assert.equal(requestOrigin('10.0.0.5', false, { 'x-forwarded-for': '192.0.2.7, unknown' }, trusted).client, 'unknown');
    assert.equal(proxies.has('unknown'), false);
  });

  it('counts HTTPS only when every X-Forwarded-Proto value says so, and the socket\'s own TLS without one', () => {
    assert.equal(requestOrigin('10.0.0.5', false, { 'x-forwarded-proto': 'HTTPS' }, trusted).tls, true);
    assert.equal(requestOrigin('10.0.0.5', false, { 'x-forwarded-proto': 'https, http' }, trusted).tls, false);
    assert.equal(requestOrigin('10.0.0.5', true, { 'x-forwarded-proto': 'http' }, trusted).tls, false);
    assert.equal(requestOrigin('10.0.0.5', false, { 'x-forwarded-for': '192.0.2.7' }, trusted).tls, false);
  });
});

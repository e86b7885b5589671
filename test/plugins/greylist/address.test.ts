// Client network masking and sender normalisation, the parts of the greylist triplet.
import assert from 'node:assert/strict';
import { clientNetwork, normaliseSender } from '../../../plugins/greylist/address.ts';

describe('greylist clientNetwork', () => {
  const cases: Array<[string, number, number, string]> = [
    ['192.0.2.77', 24, 64, '192.0.2.0/24'],
    ['192.0.2.77', 32, 64, '192.0.2.77/32'],
    ['198.51.100.200', 16, 64, '198.51.0.0/16'],
    ['203.0.113.255', 28, 64, '203.0.113.240/28'],
    ['::ffff:192.0.2.9', 24, 64, '192.0.2.0/24'],
    ['2001:db8:1:2:3:4:5:6', 24, 64, '2001:db8:1:2::/64'],
    ['2001:DB8:0:0:1::9', 24, 48, '2001:db8::/48'],
    ['2001:db8:abcd:12ff::1', 24, 56, '2001:db8:abcd:1200::/56'],
    ['::1', 24, 128, '::1/128'],
    ['2001:db8::ffff:1.2.3.4', 24, 128, '2001:db8::ffff:102:304/128'],
  ];
  for (const [ip, v4, v6, want] of cases) {
    it(`${ip} with /${v4} and /${v6} → ${want}`, () => assert.equal(clientNetwork(ip, v4, v6), want));
  }
  it('two clients of one /24 share a network, neighbours do not', () => {
    assert.equal(clientNetwork('192.0.2.1', 24, 64), clientNetwork('192.0.2.254', 24, 64));
    assert.notEqual(clientNetwork('192.0.2.1', 24, 64), clientNetwork('192.0.3.1', 24, 64));
  });
});

describe('greylist normaliseSender', () => {
  const strip = { stripTags: true, delimiters: '+' };
  const keep = { stripTags: false, delimiters: '+' };
  const cases: Array<[string, string, typeof strip]> = [
    ['', '<>', strip],
    ['Alice@Example.ORG', 'alice@example.org', strip],
    ['alice+news@example.org', 'alice@example.org', strip],
    ['alice+news@example.org', 'alice+news@example.org', keep],
    ['+weird@example.org', '+weird@example.org', strip],
    ['prvs=0123abcdef=bob@example.com', 'bob@example.com', strip],
    ['msprvs1=18010abcdEf=bounces-x@example.com', 'bounces-x@example.com', strip],
    ['btv1==0123abcdef==bob@example.com', 'bob@example.com', strip],
    ['SRS0=HHH=TT=orig.example=carol@forwarder.example', 'carol@orig.example', strip],
    ['SRS0+Xab1=2B=orig.example=carol+tag@forwarder.example', 'carol@orig.example', strip],
    ['SRS1=HHH=fwd1.example==HHH=TT=orig.example=dave@fwd2.example', 'dave@orig.example', strip],
    ['prvs=0123abcdef=bob@example.com', 'prvs=0123abcdef=bob@example.com', keep],
  ];
  for (const [input, want, opts] of cases) {
    it(`${JSON.stringify(input)}${opts.stripTags ? '' : ' (tags kept)'} → ${want}`, () => assert.equal(normaliseSender(input, opts), want));
  }
  it('several delimiter characters each start a tag', () => {
    assert.equal(normaliseSender('user-list+x@example.org', { stripTags: true, delimiters: '+-' }), 'user@example.org');
  });
});

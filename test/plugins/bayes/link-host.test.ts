// Link targets: one spelling per host however the sender wrote it, and no host for links that have none.
import assert from 'node:assert/strict';
import { linkTarget } from '../../../plugins/bayes/engine/link-host.ts';
import { tokenize } from '../../../plugins/bayes/engine/tokenizer.ts';

describe('bayes link targets', () => {
  it('reads the host of web links in every spelling a browser accepts', () => {
    const cases: Array<[string, string]> = [
      ['http://Shop.Example.COM./x', 'shop.example.com'],
      ['https://user:pw@shop.example.com:8080/a?b#c', 'shop.example.com'],
      ['//cdn.example.net/pixel.gif', 'cdn.example.net'],
      ['www.example.org/path', 'www.example.org'],
      ['http://ex%61mple.com/', 'example.com'],
      ['http://b%C3%BCcher.de/', 'xn--bcher-kva.de'],
      ['http://bücher.de/', 'xn--bcher-kva.de'],
      ['http://a.example.com\\evil', 'a.example.com'],
      // The host is what follows the last @: the rest is user info made to look like a host.
      ['http://www.bank.example@www.terra.es/', 'www.terra.es'],
      ['mailto:sales@offers.example.com?subject=hi', 'offers.example.com'],
    ];
    for (const [link, host] of cases) assert.deepEqual(linkTarget(link), { host }, link);
  });

  it('takes an IP address in any number form, and IPv6, as an IP address', () => {
    for (const link of ['http://192.168.1.1/', 'http://3232235777/', 'http://0xc0.0xa8.1.1/', 'http://0300.0250.1.1/', 'http://[2001:db8::1]:80/', 'http://%31%39%32.168.1.1/']) {
      assert.deepEqual(linkTarget(link), { ip: true }, link);
    }
  });

  it('finds no host in links to parts of the message, scripts, relative paths or bare names', () => {
    for (const link of ['cid:image001.png@01D4A3B2.5C2E8F50', 'javascript:void(0)', 'images/spacer.gif', 'dot.gif', '#top', 'http://localhost/', 'http://exa mple.com/', 'data:text/html,hi', '']) {
      assert.equal(linkTarget(link), null, link);
    }
  });

  it('gives the tokenizer one token for a host written with escapes and in plain', () => {
    const escaped = tokenize('Subject: x\nContent-Type: text/html\n\n<a href="http://www.%70rize.example.com/">win</a><img src="spacer.gif">');
    assert.ok(escaped.has('u:www.prize.example.com') && escaped.has('ud:example.com'));
    assert.ok(![...escaped.keys()].some((k) => k.includes('%') || k === 'u:spacer.gif'));
  });
});

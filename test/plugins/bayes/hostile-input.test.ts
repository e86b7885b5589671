// Header values and HTML an attacker shapes so that a regex rescans them from every position: the tokenizer must
// still read them in one pass, and still find what it found before in ordinary mail.
import assert from 'node:assert/strict';
import { addressesIn, displayText, hostNamesIn, messageIdParts, trimDomain } from '../../../plugins/bayes/engine/header-parts.ts';
import { htmlToText } from '../../../plugins/bayes/engine/html.ts';
import { tokenize } from '../../../plugins/bayes/engine/tokenizer.ts';

describe('bayes engine on hostile input', () => {
  describe('header parts', () => {
    it('finds addresses and the display name of From, To and Reply-To values', () => {
      const from = 'Jürgen Müller <j.mueller@mail.example.de>, "Ops" <ops@example.org>; bad@ @x x@';
      assert.deepEqual(addressesIn(from.toLowerCase(), 10), ['j.mueller@mail.example.de', 'ops@example.org']);
      assert.deepEqual(addressesIn('a@b c@d e@f', 2), ['a@b', 'c@d']);
      assert.equal(displayText(from).replace(/\s+/g, ' ').trim(), 'Jürgen Müller , "Ops" ; bad@ @x x@');
      assert.equal(displayText('Unclosed <a@b.example'), 'Unclosed  ');
      assert.equal(trimDomain('example.com.>>'), 'example.com');
    });

    it('takes the parts of a Message-ID, skipping an @ with nothing after it', () => {
      assert.deepEqual(messageIdParts('<20021122.abc$1@mail.example.com>'), { local: '20021122.abc$1', domain: 'mail.example.com' });
      assert.deepEqual(messageIdParts('<a@ b@host>'), { local: ' b', domain: 'host' });
      assert.equal(messageIdParts('<no-at-sign>'), undefined);
    });

    it('finds dotted host names and addresses in Received values, ending each on a letter or digit', () => {
      const received = 'from mail.sender.test (mail.sender.test [198.51.100.7]) by mx.example.com (8.11.6/8.11.6) with ESMTP id g6ADkp; -x-.host-.a.b-';
      assert.deepEqual(hostNamesIn(received), ['mail.sender.test', 'mail.sender.test', '198.51.100.7', 'mx.example.com', '8.11.6', '8.11.6', 'x-.host-.a.b']);
      assert.deepEqual(hostNamesIn('a..b.c .d. under_score.example.org'), ['b.c', 'example.org']);
    });
  });

  describe('HTML attributes', () => {
    it('reads HTML attributes, tags and text, leaving out comments, scripts, styles and the head', () => {
      const h = htmlToText('<HEAD><title>t</title></head><p class=x>Hi <a HREF="http://a.example/">there</a><!-- salad --><script>x()</SCRIPT ><font color=\'red\' size=2>!</font>', true);
      assert.equal(h.text.replace(/\s+/g, ' ').trim(), 'Hi there !');
      assert.deepEqual(h.urls, ['http://a.example/']);
      assert.deepEqual(h.tags, ['p:class', 'p', 'a:href', 'a', 'font:color=red', 'font:size=2', 'font']);
      assert.equal(htmlToText('<style>a{}</style>kept <style>never closed', false).text.replace(/\s+/g, ' ').trim(), 'kept never closed');
      assert.equal(htmlToText('a <b>bold</b> <unclosed and < more', false).text.replace(/\s+/g, ' '), 'a bold <unclosed and < more');
    });
  });

  describe('sizes that made the old regexes quadratic', () => {
    // Each of these took seconds at 40–80 KB with the regexes they replace (minutes at the 512 KB read), so the
    // test's timeout is the check; the assertions show each was still read. HTML is cut at 200,000 characters.
    const run = (unit: string, size = 512 * 1024 - 200) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
    const html = (unit: string) => run(unit, 190_000);
    const cases: Array<[string, string, (t: Map<string, number>) => boolean]> = [
      ['From', `From: ${run('a')}\nSubject: x\n\nhi\n`, (t) => ![...t.keys()].some((k) => k.startsWith('f:@'))],
      ['To', `To: ${run('a')}\nSubject: x\n\nhi\n`, (t) => t.has('m:rcpts=0')],
      ['Message-ID', `Message-ID: ${run('a')}\nSubject: x\n\nhi\n`, (t) => t.has('mid:none')],
      ['Received', `Received: ${run('a-')}\nSubject: x\n\nhi\n`, (t) => ![...t.keys()].some((k) => k.startsWith('rcv:'))],
      ['Content-Type parameters', `Content-Type: text/plain; ${run('a')}\nSubject: x\n\nhi\n`, (t) => t.has('hi')],
      ['unclosed tags', `Content-Type: text/html\nSubject: x\n\n${html('<a')}\n`, (t) => t.has('m:html-only')],
      ['a long attribute name', `Content-Type: text/html\nSubject: x\n\n<a ${html('b')}>hi\n`, (t) => t.has('h:a') && t.has('hi')],
      ['unclosed comments', `Content-Type: text/html\nSubject: x\n\n${html('<!--')}\n`, (t) => t.has('m:html-only')],
      ['unclosed scripts', `Content-Type: text/html\nSubject: x\n\n${html('<script>')}\n`, (t) => t.has('h:script')],
    ];
    for (const [what, raw, ok] of cases) {
      it(`reads ${Math.round(raw.length / 1024)} KB of ${what} in one pass`, function () {
        this.timeout(10_000);
        assert.ok(ok(tokenize(raw)));
      });
    }
  });
});

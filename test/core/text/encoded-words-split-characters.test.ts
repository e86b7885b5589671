// Adjacent RFC 2047 encoded words of one charset are decoded as one byte string (RFC 2047 §6.2), as mail clients do:
// a character whose bytes a sender cut between two words must come out whole, in the digest, the rules and Bayes alike.
import assert from 'node:assert/strict';
import { decodeWords } from '../../../core/text/encoded-words.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

// `Пётр` in UTF-8 is D0 9F D1 91 D1 82 D1 80; the first word ends in the middle of `ё` (D1 | 91).
const SPLIT = 'QUAR =?UTF-8?B?0J/R?= =?UTF-8?B?kdGC0YA=?=';

describe('encoded words: a character cut between two words', () => {
  it('comes out whole (it was decoded word by word: QUAR ÐŸÑ‘Ñ‚Ñ€)', () => {
    assert.equal(decodeWords(SPLIT), 'QUAR Пётр');
    // In Q encoding, across a folded line, and with the charset's case differing between the words.
    assert.equal(decodeWords('=?utf-8?Q?caf=C3?=\r\n =?UTF-8?q?=A9_ok?='), 'café ok');
  });

  it('keeps the whitespace rule: dropped between encoded words only, kept next to other text', () => {
    assert.equal(decodeWords('=?utf-8?q?a?=   =?utf-8?q?b?='), 'ab');
    assert.equal(decodeWords('x =?utf-8?q?a?= y =?utf-8?q?b?= z'), 'x a y b z');
    assert.equal(decodeWords('=?utf-8?q?a?=x'), 'ax');
    assert.equal(decodeWords('Re: =?iso-8859-1?q?=E9t=E9?='), 'Re: été');
  });

  it('decodes words of different charsets each in its own', () => {
    assert.equal(decodeWords('=?iso-8859-1?q?=E9?= =?utf-8?b?w6k=?='), 'éé');
    assert.equal(decodeWords('=?iso-8859-5?b?vw==?= =?utf-8?b?0J8=?='), 'ПП');
  });

  it('leaves text without encoded words, and broken ones, as they are', () => {
    assert.equal(decodeWords('plain subject'), 'plain subject');
    assert.equal(decodeWords('a =?utf-8?q?unterminated'), 'a =?utf-8?q?unterminated');
  });
});

describe('encoded words: a split character through the gateway', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: { plugins: [{ name: 'rules', rules: [{ name: 'petr', when: { subject: { contains: 'Пётр' } }, actions: [{ reject: 'No Petr here' }] }] }] },
    });
  });
  after(async () => { await gw?.stop(); });

  it('a rule on the decoded Subject matches it', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<a@example.org>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<u@example.com>')).code, 250);
      const r = await d.data(`From: a@example.org\r\nSubject: ${SPLIT}\r\n\r\nHello.\r\n`);
      assert.equal(`${r.code} ${r.text}`, '550 5.7.1 No Petr here');
    } finally { await d.quit(); }
    assert.equal(gw.sink.messages.length, 0);
  });
});

// The digest of a mailbox under an internationalized domain names it in one form: a Unicode local part beside A-labels
// (`用户@xn--fsqu00a.xn--4rr70v`) was shown so in its Subject and heading. Its To field stays ASCII where it can.
import assert from 'node:assert/strict';
import { buildDigestMail, type DigestItem } from '../../../core/quarantine/digest-mail.ts';
import { decodeWords } from '../../../core/text/encoded-words.ts';
import { digestHtml, digestText } from './digest-text.ts';

const item: DigestItem = {
  id: '0abc', receivedAt: Date.UTC(2026, 10, 22, 12), sender: 'prize@lottery.example', subject: 'You won', score: 9,
  senderAddress: 'prize@lottery.example', recipientMayRelease: true,
};

function digestFor(to: string) {
  const raw = buildDigestMail({ from: 'postmaster@mx.example', to, hostname: 'mx.example', items: [item], older: 0, now: Date.UTC(2026, 10, 23) });
  const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('utf8');
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(head)?.[1] ?? '';
  return { subject: decodeWords(field('Subject')), to: field('To'), text: digestText(raw), html: digestHtml(raw) };
}

describe('quarantine digest: the addressee of an internationalized domain', () => {
  it('shows a Unicode local part with its domain in Unicode, in the Subject, the text and the heading', () => {
    const d = digestFor('用户@xn--fsqu00a.xn--4rr70v');
    assert.equal(d.subject, 'Quarantine report for 用户@例子.广告: 1 message(s)');
    assert.match(d.text, /^Quarantine report for 用户@例子\.广告\r$/m);
    assert.match(d.html, /<h1>Quarantine report for 用户@例子\.广告<\/h1>/);
    // The local part needs SMTPUTF8 anyway: the field names the address in one form, Unicode.
    assert.equal(d.to, '用户@例子.广告');
  });

  it('shows an ASCII local part with its domain in Unicode too, and writes the To field in A-labels', () => {
    for (const to of ['info@müller.example', 'info@xn--mller-kva.example']) {
      const d = digestFor(to);
      assert.equal(d.subject, 'Quarantine report for info@müller.example: 1 message(s)', to);
      assert.equal(d.to, 'info@xn--mller-kva.example', to);
    }
  });

  it('leaves an ASCII address as it is', () => {
    const d = digestFor('ann@example.com');
    assert.equal(d.subject, 'Quarantine report for ann@example.com: 1 message(s)');
    assert.equal(d.to, 'ann@example.com');
  });
});

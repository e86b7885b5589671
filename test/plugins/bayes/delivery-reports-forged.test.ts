// The attacker walkthrough's forged delivery reports through a real gateway scoring with the shipped dictionary:
// each is sent from the null sender with the spam where its reader sees it, and each must be scored whole (it is no
// report's shape) rather than get the report treatment that gave them all 0. Real MTAs' reports keep theirs.
import assert from 'node:assert/strict';
import { deliveryReport, noticeLimit } from '../../../plugins/bayes/delivery-report.ts';
import { shownText } from '../../../plugins/bayes/notice-html.ts';
import { fromOutside } from './gateway-beds.ts';
import { eximBounce, forgedForms, gmailReport, postfixReport, userMail } from './delivery-reports.ts';
import { field, symbolsOf, withShippedGateway } from './delivery-reports-bed.ts';

describe('bayes: forged delivery reports are scored whole (shipped dictionary, real gateway)', function () {
  this.timeout(60_000);
  const bed = withShippedGateway();

  Object.entries(forgedForms).forEach(([form, make], i) => {
    it(`scores a forged report with ${form} whole, with the band of its spam`, async () => {
      const tag = `forged-form-${i}`;
      const raw = make(tag);
      const whole = bed.shipped.score(raw).probability;
      assert.ok(whole >= 0.7, `scored whole it is spam (${whole})`);
      assert.ok(!('format' in deliveryReport(Buffer.from(raw))), 'not taken for a delivery report');
      const reply = await fromOutside(bed.gw.port, raw, ['alice@example.com'], { from: '', name: 'mx.partner.test' });
      assert.equal(reply.code, 250);
      const relayed = await bed.gw.sink.waitForText(tag);
      assert.equal(field(relayed, 'X-Mailmoat-Bayes'), whole.toFixed(4));
      const symbols = symbolsOf(relayed);
      assert.ok(!symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
      assert.equal(symbols.filter((s) => /^BAYES_SPAM_(70|90|99)\(/.test(s)).length, 1, symbols.join(' '));
    });
  });

  it('still takes real reports whose notices quote long replies for it: Postfix quoting Gmail\'s, one per recipient', async () => {
    const gmailReply = '550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient\'s email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a640c23a62f3a-a5a17b01d5bsi1234567866b.123 - gsmtp';
    const raw = postfixReport({ returned: userMail(), tag: 'long-reply' })
      .replace(/550 5\.1\.1\r\n    <bob@partner\.test>: Recipient address rejected: User unknown in local\r\n    recipient table/, `${gmailReply.slice(0, 60)}\r\n    ${gmailReply.slice(60, 130)}\r\n    ${gmailReply.slice(130, 200)}\r\n    ${gmailReply.slice(200)}`)
      .replace(/Diagnostic-Code: smtp; 550 5\.1\.1 <bob@partner\.test>: Recipient address\r\n    rejected: User unknown in local recipient table/, `Diagnostic-Code: smtp; ${gmailReply}`);
    assert.ok(raw.includes('gsmtp (in reply to RCPT TO command)'));
    const r = deliveryReport(Buffer.from(raw));
    assert.ok('format' in r && r.returned.kind === 'message', JSON.stringify(r));
    const relayed = await (async () => {
      await fromOutside(bed.gw.port, raw, ['alice@example.com'], { from: '', name: 'mx.partner.test' });
      return bed.gw.sink.waitForText('long-reply');
    })();
    assert.match(field(relayed, 'X-Mailmoat-Bayes') ?? '', /; returned message of a delivery report$/);
    assert.ok(symbolsOf(relayed).includes('BAYES_DSN(0)'));
  });

  it('takes Gmail\'s alternative notice (its HTML says what its text says) and Exim\'s, and says why a notice is refused', () => {
    assert.ok('format' in deliveryReport(Buffer.from(gmailReport({ returned: userMail() }))));
    assert.ok('format' in deliveryReport(Buffer.from(eximBounce({ returned: userMail() }))));
    const refused = deliveryReport(Buffer.from(forgedForms['spam in the notice, ham returned']('why')));
    assert.match('notReport' in refused ? refused.notReport : '', /^multipart\/report with a notice of \d+ bytes, more than the \d+ of a delivery report$/);
    assert.equal(noticeLimit(10_000, 1), noticeLimit(0, 1) + 512, 'quoted replies buy at most 512 bytes a recipient');
    assert.equal(shownText('<html><head><style>p{}</style></head><body><p>Address <b>not</b>   found</p><!-- x --></body></html>'), 'Address not found');
  });
});

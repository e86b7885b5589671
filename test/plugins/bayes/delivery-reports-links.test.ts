// A delivery report's notice is not scored, so a forger's short notice (a line of spam and its link, beside a ham
// "returned" message) got no band at all. An MTA's notice links only to its provider's help and to what the remote
// replies it quotes give: a report whose notice links anywhere else is ordinary mail, scored whole. Each report goes
// from the null sender through a real gateway scoring with the shipped dictionary.
import assert from 'node:assert/strict';
import { deliveryReport } from '../../../plugins/bayes/delivery-report.ts';
import { eximBounce, gmailReport, postfixReport, userMail } from './delivery-reports.ts';
import { field, relayedReport, withShippedGateway } from './delivery-reports-bed.ts';

const POSTFIX_OPENING = 'This is the mail system at host mx.partner.test.';
const SPAM_LINK = 'http://cheap-meds-4u.example.biz/?id=8812';

/** Postfix's report of the user's mail with `line` added to its notice after its opening line. */
function postfixWith(line: string, tag: string): string {
  return postfixReport({ returned: userMail(), tag }).replace(POSTFIX_OPENING, `${POSTFIX_OPENING}\r\n\r\n${line}`);
}

/** Postfix's report of a message a blocklist refused: the remote reply, with its lookup link, in the notice and, unless `notInReport`, the Diagnostic-Code. */
function blocklisted(tag: string, notInReport = false): string {
  const lookup = 'https://check.spamhaus.org/listed/?searchterm=198.51.100.25';
  return postfixReport({ returned: userMail(), tag })
    .replace(/550 5\.1\.1\r\n    <bob@partner\.test>: Recipient address rejected: User unknown in local\r\n    recipient table/,
      `554 5.7.1 Client host\r\n    [198.51.100.25] listed at zen.spamhaus.org, see\r\n    ${lookup}`)
    .replace(/Diagnostic-Code: smtp; 550 5\.1\.1 <bob@partner\.test>: Recipient address\r\n    rejected: User unknown in local recipient table/,
      `Diagnostic-Code: smtp; 554 5.7.1 Client host [198.51.100.25] listed at\r\n    zen.spamhaus.org, see ${notInReport ? 'the list\'s site' : lookup}`);
}

describe('bayes: a link no MTA writes makes a delivery report ordinary mail (shipped dictionary, real gateway)', function () {
  this.timeout(60_000);
  const bed = withShippedGateway();

  const forged: Array<[string, (tag: string) => string, string]> = [
    ['a host name starting www. in Postfix\'s notice', (tag) => postfixWith('V1agra 80% OFF, no prescription: www.cheap-meds-4u.example.biz', tag), 'www.cheap-meds-4u.example.biz'],
    ['a link dressed as Google\'s help page', (tag) => postfixWith('V1agra 80% OFF: https://support.google.com@cheap-meds-4u.example.biz/?id=8812', tag), 'cheap-meds-4u.example.biz'],
    ['a link in Exim\'s notice, not on its reply lines', (tag) => eximBounce({ returned: userMail(), tag }).replace('  bob@partner.test\r\n', `  bob@partner.test\r\n\r\nV1agra 80% OFF: ${SPAM_LINK}\r\n`), 'cheap-meds-4u.example.biz'],
    ['Gmail\'s notice whose HTML links elsewhere, written in entity references', (tag) => gmailReport({ returned: userMail(), tag })
      .replace('href="https://support.google.com/mail/?p=NoSuchUser"', 'href="&#104;ttp&#58;//cheap-meds-4u.example.biz/?id=8812"'), 'cheap-meds-4u.example.biz'],
    ['a blocklist\'s link in the notice that its Diagnostic-Code does not give', (tag) => blocklisted(tag, true), 'check.spamhaus.org'],
  ];
  forged.forEach(([what, make, host], i) => {
    it(`scores whole a report with ${what}`, async () => {
      const tag = `link-forged-${i}`;
      const raw = make(tag);
      const r = deliveryReport(Buffer.from(raw, 'latin1'));
      assert.ok('notReport' in r && r.notReport.includes(`with a link to ${host} in its notice, `), JSON.stringify(r));
      const { relayed, symbols } = await relayedReport(bed, raw, tag);
      assert.equal(field(relayed, 'X-Mailmoat-Bayes'), bed.shipped.score(raw).probability.toFixed(4));
      assert.ok(!symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
    });
  });

  it('still judges by its returned message a real bounce whose quoted reply gives a blocklist\'s lookup link', async () => {
    const tag = 'link-blocklisted';
    const raw = blocklisted(tag);
    assert.equal(raw.split('https://check.spamhaus.org/listed/').length, 3, 'the link in the notice and in the Diagnostic-Code');
    const r = deliveryReport(Buffer.from(raw, 'latin1'));
    assert.ok('format' in r && r.returned.kind === 'message', JSON.stringify(r));
    const { relayed, symbols } = await relayedReport(bed, raw, tag);
    assert.match(field(relayed, 'X-Mailmoat-Bayes') ?? '', /^0\.00\d\d; returned message of a delivery report$/);
    assert.ok(symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
    assert.deepEqual(symbols.filter((s) => /^BAYES_(SPAM|HAM)/.test(s)), []);
  });
});

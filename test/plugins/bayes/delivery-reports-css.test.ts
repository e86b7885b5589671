// HTML notices whose spam a reader is shown (or whose link a reader follows) where a plain reading of the markup did
// not look: CSS written with escapes, comments or character references, CSS strings shown as text, and tags, comments
// and elements a browser ends elsewhere than a naive reader does. Each goes in an Exchange-shaped report from the null
// sender through a real gateway scoring with the shipped dictionary, and must be scored whole; the real notices of
// Exchange and Gmail are still taken for reports.
import assert from 'node:assert/strict';
import { deliveryReport } from '../../../plugins/bayes/delivery-report.ts';
import { exchangeReport } from './exchange-reports.ts';
import { gmailReport, userMail } from './delivery-reports.ts';
import { field, relayedReport, withShippedGateway } from './delivery-reports-bed.ts';

const EXCHANGE_OUTBOUND = 'DB8EUR05OB123.outbound.protection.outlook.com';
const SPAM = 'Best prices on the net!! Viagra, Cialis, Levitra, Xanax, Valium - all at 80% OFF. No prescription needed, FREE worldwide shipping, 100% discreet. Limited time offer, act now!';
const AD = 'http://cheap-meds-4u.example.biz/ad.png';

function reasonOf(raw: string): string {
  const r = deliveryReport(Buffer.from(raw, 'latin1'));
  return 'notReport' in r ? r.notReport : `taken: ${r.format}`;
}

describe('bayes: HTML notices that show or link past a plain reading are scored whole (shipped dictionary, real gateway)', function () {
  this.timeout(60_000);
  const bed = withShippedGateway();

  const forged: Array<[string, string, RegExp]> = [
    ['generated content whose property name is a CSS escape', `<style>p.x::after{cont\\65nt:"${SPAM}"}</style><p class="x"></p>`,
      /with a CSS escape in its HTML notice/],
    ['generated content whose property name is followed by a comment', `<style>p.x::after{content/**/:"${SPAM}"}</style><p class="x"></p>`,
      /with a CSS comment in its HTML notice/],
    ['a CSS fetch written u\\72l( in a style attribute', `<p style="background:u\\72l(${AD})">&nbsp;</p>`,
      /with a CSS escape in its HTML notice/],
    ['a CSS fetch written u&#114;l( in a style attribute', `<p style="background:u&#114;l(${AD})">&nbsp;</p>`,
      /with a link to cheap-meds-4u\.example\.biz in its notice, /],
    ['generated content written with a character reference in a style attribute', `<p style="cont&#101;nt:'${SPAM}'">&nbsp;</p>`,
      /with CSS generated content in its HTML notice/],
    ['quotation marks that are the spam', `<style>q{quotes:"${SPAM}" ""}</style><q></q>`,
      /with a CSS string that is no font name or URL in its HTML notice/],
    ['a list marker that is the spam', `<ul><li style='list-style-type:"${SPAM}"'>&nbsp;</li></ul>`,
      /with a CSS string that is no font name or URL in its HTML notice/],
    ['a link behind a quoted ">" in the tag before its href', '<p><a title=">" href=//cheap-meds-4u.example.biz/?id=8812>Your mailbox is full</a></p>',
      /with a link to cheap-meds-4u\.example\.biz in its notice, /],
    ['a comment a browser ends at --!>', `<!-- notes --!><p>${SPAM}</p><!-- -->`,
      /with an HTML notice showing \d+ characters besides the header section it quotes, more than the \d+ of a delivery report$/],
    ['an element named like style, which a browser shows', `<style-x>${SPAM}</style-x>`,
      /with an HTML notice showing \d+ characters besides the header section it quotes, more than the \d+ of a delivery report$/],
    ['a style element in SVG, whose markup a browser shows', `<svg><style><p>${SPAM}</p></style></svg>`,
      /with a <svg> element in its HTML notice/],
    ['a title made shown by CSS', `<style>title{display:block}</style><title>${SPAM}</title>`,
      /with CSS display rules in a style element in its HTML notice/],
  ];
  forged.forEach(([what, html, why], i) => {
    it(`scores whole a report whose HTML notice has ${what}`, async () => {
      const tag = `css-forged-${i}`;
      const raw = exchangeReport({ notice: 'html', headersOnly: true, tag, html });
      assert.match(reasonOf(raw), why);
      const { relayed, symbols } = await relayedReport(bed, raw, tag, EXCHANGE_OUTBOUND);
      assert.equal(field(relayed, 'X-Mailmoat-Bayes'), bed.shipped.score(raw).probability.toFixed(4));
      assert.ok(!symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
    });
  });

  it('still takes the real notices: Exchange\'s four forms and Gmail\'s', async () => {
    for (const o of [{}, { headersOnly: true }, { notice: 'html' as const }, { notice: 'html' as const, headersOnly: true }]) {
      assert.equal(reasonOf(exchangeReport(o)), 'taken: multipart/report', JSON.stringify(o));
    }
    assert.equal(reasonOf(gmailReport({ returned: userMail() })), 'taken: multipart/report');
    const tag = 'css-real-exchange';
    const { relayed, symbols } = await relayedReport(bed, exchangeReport({ notice: 'html', tag }), tag, EXCHANGE_OUTBOUND);
    assert.match(field(relayed, 'X-Mailmoat-Bayes') ?? '', /; returned message of a delivery report$/);
    assert.ok(symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
  });
});

// Exchange Online's non-delivery reports through a real gateway scoring with the shipped dictionary: their notice
// copies the returned header section out in full, which no longer makes them too long to be a report, so a bounce
// of a user's mail loses the spam band its wording and header dump earned it. The forgeries shaped like them (spam in
// the help text, a copied header section that is not the returned one, text the count misses, a link) stay ordinary
// mail, scored whole; spam put in the returned part is found there.
import assert from 'node:assert/strict';
import { deliveryReport } from '../../../plugins/bayes/delivery-report.ts';
import { exchangeReport, userMailAtExchange, type ExchangeOptions } from './exchange-reports.ts';
import { field, relayedReport, withShippedGateway } from './delivery-reports-bed.ts';

const SPAM_LINES = [
  'Best prices on the net!! Viagra, Cialis, Levitra, Xanax, Valium - all at 80% OFF.',
  'No prescription needed, FREE worldwide shipping, 100% discreet.',
  'Limited time offer, act now! Satisfaction guaranteed or your money back.',
];
/** The Exchange Online server a report comes from, by its HELO. */
const EXCHANGE_OUTBOUND = 'DB8EUR05OB123.outbound.protection.outlook.com';
const SPAM_SUBJECT = 'Cheapest V1agra and Cialis - 80% OFF, no prescription!!!';

function reasonOf(raw: string): string {
  const r = deliveryReport(Buffer.from(raw, 'latin1'));
  return 'notReport' in r ? r.notReport : `taken: ${r.format}`;
}

describe('bayes: Exchange Online delivery reports (shipped dictionary, real gateway)', function () {
  this.timeout(60_000);
  const bed = withShippedGateway();

  const forms: Array<[string, ExchangeOptions, 'message' | 'header section']> = [
    ['text and HTML alternatives, the message returned', { notice: 'alternative' }, 'message'],
    ['text and HTML alternatives, the header section returned', { notice: 'alternative', headersOnly: true }, 'header section'],
    ['a bare HTML notice, the message returned', { notice: 'html' }, 'message'],
    ['a bare HTML notice, the header section returned', { notice: 'html', headersOnly: true }, 'header section'],
  ];
  forms.forEach(([form, o, what], i) => {
    it(`judges a bounce of a user's mail with ${form} by its returned part, with no spam band`, async () => {
      const tag = `exchange-${i}`;
      const raw = exchangeReport({ ...o, tag });
      const r = deliveryReport(Buffer.from(raw, 'latin1'));
      assert.ok('format' in r && r.returned.kind !== 'nothing', JSON.stringify(r));
      const returnedP = bed.shipped.score(r.returned.bytes).probability;
      assert.ok(returnedP < 0.5, `the returned ${what} alone is not spam (${returnedP})`);
      const { relayed, symbols } = await relayedReport(bed, raw, tag, EXCHANGE_OUTBOUND);
      assert.equal(field(relayed, 'X-Mailmoat-Bayes'), `${returnedP.toFixed(4)}; returned ${what} of a delivery report`);
      assert.ok(symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
      assert.deepEqual(symbols.filter((s) => /^BAYES_(SPAM|HAM)/.test(s)), [], symbols.join(' '));
    });
  });

  it('took a header-section bounce for a spam before: scored whole, its wording and header dump give BAYES_SPAM_70', () => {
    assert.ok(bed.shipped.score(exchangeReport({ headersOnly: true })).probability >= 0.7);
    assert.ok(bed.shipped.score(exchangeReport({ notice: 'html', headersOnly: true })).probability >= 0.7);
  });

  const spamSubjectHeader = userMailAtExchange(SPAM_SUBJECT);
  const forged: Array<[string, (tag: string) => string, RegExp]> = [
    ['three lines of spam in its help text', (tag) => exchangeReport({ extra: SPAM_LINES, tag }),
      /^multipart\/report with a notice of \d+ bytes besides the header section it quotes, more than the \d+ of a delivery report$/],
    ['three lines of spam in its HTML notice alone', (tag) => exchangeReport({ extra: SPAM_LINES, notice: 'html', headersOnly: true, tag }),
      /^multipart\/report with an HTML notice showing \d+ characters besides the header section it quotes, more than the \d+ of a delivery report$/],
    ['a copied header section that is not the returned one', (tag) => exchangeReport({ quoted: spamSubjectHeader.slice(0, spamSubjectHeader.indexOf('\r\n\r\n') + 2), headersOnly: true, tag }),
      /^multipart\/report with a notice of \d{4} bytes, more than the \d+ of a delivery report$/],
    ['spam in CSS generated content', (tag) => exchangeReport({ notice: 'html', tag, html: '<style>p.x::after{content:"V1agra 80% OFF - cheap-meds-4u dot biz"}</style><p class="x"></p>' }),
      /^multipart\/report with CSS generated content in its HTML notice/],
    ['a spam link behind the recipient\'s name', (tag) => exchangeReport({ notice: 'html', tag, html: '<p><a href="http://cheap-meds-4u.example.biz/?id=8812">Your mailbox is full: see your message</a></p>' }),
      /^multipart\/report with a link to cheap-meds-4u\.example\.biz in its notice, /],
  ];
  forged.forEach(([what, make, why], i) => {
    it(`scores whole an Exchange-shaped report with ${what}`, async () => {
      const tag = `exchange-forged-${i}`;
      const raw = make(tag);
      assert.match(reasonOf(raw), why);
      const { relayed, symbols } = await relayedReport(bed, raw, tag, EXCHANGE_OUTBOUND);
      assert.equal(field(relayed, 'X-Mailmoat-Bayes'), bed.shipped.score(raw).probability.toFixed(4));
      assert.ok(!symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
    });
  });

  it('gives the spam band of a spam Subject in the returned header section, which the notice copies and is not counted', async () => {
    const tag = 'exchange-spam-header';
    const raw = exchangeReport({ returned: userMailAtExchange(`${SPAM_SUBJECT} ${tag}`), headersOnly: true });
    const r = deliveryReport(Buffer.from(raw, 'latin1'));
    assert.ok('format' in r && r.returned.kind === 'headers', JSON.stringify(r));
    const returnedP = bed.shipped.score(r.returned.bytes).probability;
    assert.ok(returnedP >= 0.9, `the returned header section is spam (${returnedP})`);
    const { relayed, symbols } = await relayedReport(bed, raw, tag, EXCHANGE_OUTBOUND);
    assert.equal(field(relayed, 'X-Mailmoat-Bayes'), `${returnedP.toFixed(4)}; returned header section of a delivery report`);
    assert.ok(symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
    assert.equal(symbols.filter((s) => s.startsWith('BAYES_SPAM_')).length, 1, symbols.join(' '));
  });
});

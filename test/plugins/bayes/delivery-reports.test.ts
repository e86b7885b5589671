// Bounces of our users' own mail through a real gateway scoring with the shipped dictionary: a delivery report from
// the null sender is judged by the message it returns, so a bounce of ordinary mail is not tagged while backscatter
// returning spam still is; a report that returns nothing gets no band; a report's wrapper is never learned.
// Real SMTP clients send each report with MAIL FROM:<>, and a recording smarthost shows what left the gateway.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { tokenize } from '../../../plugins/bayes/engine/tokenizer.ts';
import { deliveryReport } from '../../../plugins/bayes/delivery-report.ts';
import { fromOutside } from './gateway-beds.ts';
import { field, symbolsOf, withShippedGateway } from './delivery-reports-bed.ts';
import { eximBounce, forgedReport, forgedSpam, gmailReport, oldPostfixBounce, postfixReport, qmailBounce, userMail } from './delivery-reports.ts';

const BOUNCER = { from: '', name: 'mx.partner.test' };

describe('bayes: delivery reports judged by the message they return (shipped dictionary)', function () {
  this.timeout(60_000);
  const bed = withShippedGateway();

  /** Sends `raw` from the null sender to alice and returns the copy the smarthost got. */
  async function bounced(raw: string, tag: string, from = BOUNCER.from): Promise<string> {
    return (await bouncedWithId(raw, tag, from)).relayed;
  }

  /** bounced(), and the queue id the gateway gave the message. */
  async function bouncedWithId(raw: string, tag: string, from = BOUNCER.from): Promise<{ relayed: string; qid: string }> {
    const reply = await fromOutside(bed.gw.port, raw, ['alice@example.com'], { ...BOUNCER, from });
    assert.equal(reply.code, 250);
    return { relayed: await bed.gw.sink.waitForText(tag), qid: /queued as (\S+)/.exec(reply.text)![1] };
  }

  // Whether the shipped dictionary puts the bounce, scored whole, on the spam side (qmail's wording it does not).
  const hamBounces: Array<[string, (tag: string) => string, boolean]> = [
    ['Postfix multipart/report', (tag) => postfixReport({ returned: userMail(), tag }), true],
    ['Gmail multipart/report', (tag) => gmailReport({ returned: userMail(), tag }), true],
    ['Exim plain text', (tag) => eximBounce({ returned: userMail(), tag }), true],
    ['qmail plain text', (tag) => qmailBounce({ returned: userMail(), tag }), false],
    ['Postfix multipart/mixed (before RFC 3464)', (tag) => oldPostfixBounce({ returned: userMail(), tag }), true],
  ];
  hamBounces.forEach(([form, make, spamWhole], i) => {
    it(`gives a ${form} bounce of a user's mail no spam band, and says it scored the returned message`, async () => {
      const tag = `ham-bounce-${i}`;
      const raw = make(tag);
      // The wrapper is what the dictionary misjudges: scored whole, this bounce is on the spam side.
      assert.equal(bed.shipped.score(raw).probability >= 0.5, spamWhole, `${form} scored whole is on the spam side`);
      const report = deliveryReport(Buffer.from(raw));
      assert.ok('format' in report && report.returned.kind === 'message');
      const returnedP = bed.shipped.score(report.returned.bytes).probability;
      assert.ok(returnedP < 0.01, 'the returned message alone is ham');
      const { relayed, qid } = await bouncedWithId(raw, tag);
      assert.match(field(relayed, 'X-Mailmoat-Bayes') ?? '', /^0\.00\d\d; returned message of a delivery report$/);
      assert.equal(field(relayed, 'X-Mailmoat-Spam'), 'No');
      const symbols = symbolsOf(relayed);
      assert.ok(symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
      // Neither a spam band nor the ham credit: whoever writes a report picks what it returns.
      assert.deepEqual(symbols.filter((s) => /^BAYES_(SPAM|HAM)/.test(s)), []);
      const line = bed.gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
      const note = (line?.details as string[] | undefined)?.find((d) => d.startsWith('BAYES_DSN: '));
      assert.match(note ?? '', new RegExp(`^BAYES_DSN: .+: returned message scored p=${returnedP.toFixed(4).replace('.', '\\.')}, BAYES_HAM_99 withheld`));
    });
  });

  it('tags backscatter: a Postfix report returning a spam sent in our user\'s name gets the spam band of that spam', async () => {
    const relayed = await bounced(postfixReport({ returned: forgedSpam(), tag: 'backscatter' }), 'backscatter');
    assert.match(field(relayed, 'X-Mailmoat-Bayes') ?? '', /^(0\.99\d\d|1\.0000); returned message of a delivery report$/);
    assert.equal(field(relayed, 'X-Mailmoat-Spam'), 'Yes');
    const symbols = symbolsOf(relayed);
    assert.ok(symbols.includes('BAYES_SPAM_99(7)') && symbols.includes('BAYES_DSN(0)'), field(relayed, 'X-Mailmoat-Verdict'));
  });

  it('scores the returned header section when that is all a report returns', async () => {
    const relayed = await bounced(gmailReport({ returned: userMail(), headersOnly: true, tag: 'headers-only' }), 'headers-only');
    assert.match(field(relayed, 'X-Mailmoat-Bayes') ?? '', /^0\.\d{4}; returned header section of a delivery report$/);
    assert.deepEqual(symbolsOf(relayed).filter((s) => /^BAYES_SPAM/.test(s)), []);
  });

  it('gives a report that returns nothing no band and says why', async () => {
    const raw = postfixReport({ tag: 'returns-nothing' });
    assert.ok(bed.shipped.score(raw).probability >= 0.99, 'scored whole, it was BAYES_SPAM_99');
    const relayed = await bounced(raw, 'returns-nothing');
    assert.equal(field(relayed, 'X-Mailmoat-Bayes'), 'none; delivery report returning no message');
    assert.deepEqual(symbolsOf(relayed), ['BAYES_DSN(0)']);
    assert.equal(field(relayed, 'X-Mailmoat-Spam'), 'No');
  });

  it('scores a report from a real sender whole: only the null sender sends delivery reports', async () => {
    const raw = postfixReport({ tag: 'not-null-sender' });
    const relayed = await bounced(raw, 'not-null-sender', 'mailer@partner.test');
    assert.equal(field(relayed, 'X-Mailmoat-Bayes'), bed.shipped.score(raw).probability.toFixed(4));
    assert.ok(symbolsOf(relayed).includes('BAYES_SPAM_99(7)'));
  });

  it('scores a report holding an attachment whole: no delivery report carries one', async () => {
    const raw = forgedReport({ tag: 'forged-attachment', attach: true });
    assert.ok(!('format' in deliveryReport(Buffer.from(raw))));
    const relayed = await bounced(raw, 'forged-attachment');
    assert.equal(field(relayed, 'X-Mailmoat-Bayes'), bed.shipped.score(raw).probability.toFixed(4));
    assert.ok(!symbolsOf(relayed).includes('BAYES_DSN(0)'));
  });

  it('scores a forged report with two lines of spam in its notice whole: the notice is longer than a report\'s', async () => {
    const raw = forgedReport({ tag: 'forged-notice' });
    const relayed = await bounced(raw, 'forged-notice');
    assert.equal(field(relayed, 'X-Mailmoat-Bayes'), bed.shipped.score(raw).probability.toFixed(4));
    assert.ok(symbolsOf(relayed).includes('BAYES_SPAM_90(5)'), field(relayed, 'X-Mailmoat-Verdict'));
  });

  it('scores whole a forged report with one short line of spam and its link in the notice (README: what a forger buys)', async () => {
    const raw = postfixReport({ returned: userMail(), tag: 'forged-short' }).replace('This is the mail system at host mx.partner.test.',
      'This is the mail system at host mx.partner.test.\r\n\r\nV1agra 80% OFF, no prescription: http://cheap-meds-4u.example.biz/?id=8812');
    // The notice fits a report's size; its link is what no MTA writes there. Taken for a report, it got no band.
    const r = deliveryReport(Buffer.from(raw));
    assert.match('notReport' in r ? r.notReport : '', /^multipart\/report with a link to cheap-meds-4u\.example\.biz in its notice, /);
    const whole = bed.shipped.score(raw).probability;
    assert.ok(whole >= 0.7 && whole < 0.9, `scored whole it is BAYES_SPAM_70 (${whole})`);
    const relayed = await bounced(raw, 'forged-short');
    assert.equal(field(relayed, 'X-Mailmoat-Bayes'), whole.toFixed(4));
    const symbols = symbolsOf(relayed);
    assert.ok(!symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
    assert.deepEqual(symbols.filter((s) => /^BAYES_(SPAM|HAM)/.test(s)), ['BAYES_SPAM_70(1.5)']);
  });
});

describe('bayes: a delivery report is learned only as the message it returns', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;

  before(async () => {
    gw = await startRelayingGateway({
      config: {
        plugins: [{
          name: 'bayes', honeypots: ['trap@example.com'], balance: false,
          // Every message the other checks leave at 0 is a certain ham verdict here, so a report would be learned.
          learn_from_verdict: true, learn_ham_score: 0,
        }],
      },
    });
  });
  after(async () => { await gw?.stop(); });

  /** The one learning decision on message `qid`, as `msg: class, why[, reason]`, with its token count. */
  async function decisionOn(qid: string): Promise<{ line: string; tokens: unknown }> {
    const of = () => gw.logs.filter((l) => (l.msg === 'bayes learned' || l.msg === 'bayes not learned') && l.qid === qid);
    await waitUntil(`the learning decision on ${qid}`, () => of().length > 0);
    const l = of()[0];
    return { line: [`${l.msg}: ${l.class}, ${l.why}`, l.reason].filter(Boolean).join(', '), tokens: l.tokens };
  }

  const queued = (text: string) => /queued as (\S+)/.exec(text)![1];

  it('learns backscatter to a honeypot as the spam it returns, with that spam\'s tokens and not the wrapper\'s', async () => {
    const raw = postfixReport({ returned: forgedSpam(), tag: 'trap-backscatter' });
    const reply = await fromOutside(gw.port, raw, ['trap@example.com'], BOUNCER);
    assert.equal(reply.code, 250);
    const d = await decisionOn(queued(reply.text));
    assert.equal(d.line, 'bayes learned: spam, honeypot trap@example.com');
    assert.equal(d.tokens, tokenize(Buffer.from(forgedSpam().replace(/\r?\n/g, '\r\n'))).size);
  });

  it('does not learn a honeypot\'s report that returns no message', async () => {
    const reply = await fromOutside(gw.port, postfixReport({ tag: 'trap-nothing' }), ['trap@example.com'], BOUNCER);
    const d = await decisionOn(queued(reply.text));
    assert.match(d.line, /^bayes not learned: spam, honeypot trap@example\.com, delivery report \(multipart\/report\) returning no message: /);
  });

  it('does not learn a report from a certain verdict, while an ordinary message with the same verdict is learned', async () => {
    const report = await fromOutside(gw.port, eximBounce({ returned: userMail(), tag: 'verdict-report' }), ['alice@example.com'], BOUNCER);
    const d = await decisionOn(queued(report.text));
    assert.match(d.line, /^bayes not learned: ham, verdict score 0, delivery report \(Exim\): a verdict judges the report/);
    const plain = await fromOutside(gw.port, userMail('verdict-plain'), ['alice@example.com'], { name: 'laptop.partner.test' });
    assert.equal((await decisionOn(queued(plain.text))).line, 'bayes learned: ham, verdict score 0');
  });
});

// The reviewer's forged bounces whose returned copy declares itself something other than the text a reader sees:
// Exim's and qmail's plain-text forms with `Content-Type: application/octet-stream` (or a base64 encoding) under the
// copy line, and a multipart/report whose text/rfc822-headers part goes on past its header section. Each goes from
// the null sender through a real gateway scoring with the shipped dictionary, and its spam must be scored.
import assert from 'node:assert/strict';
import { copyAsShown, deliveryReport } from '../../../plugins/bayes/delivery-report.ts';
import { tokenize } from '../../../plugins/bayes/engine/tokenizer.ts';
import { fromOutside } from './gateway-beds.ts';
import { postfixReport, userMail } from './delivery-reports.ts';
import { field, symbolsOf, withShippedGateway } from './delivery-reports-bed.ts';

const lines = (...l: string[]) => l.join('\r\n');

const SPAM = lines(
  'Best prices on the net!! Viagra, Cialis, Levitra, Xanax, Valium - all at 80% OFF.',
  'No prescription needed, FREE worldwide shipping, 100% discreet.',
  'CLICK HERE to order now: http://cheap-meds-4u.example.biz/?id=8812',
  'Limited time offer, act now! Satisfaction guaranteed or your money back.',
  'To be removed from our mailing list go to http://cheap-meds-4u.example.biz/remove',
);

/** The copy as the reviewer wrote it: a Subject, MIME fields of the forger's choosing, a blank line, the spam. */
function forgedCopy(framing: string[]): string[] {
  return ['Subject: hello', ...framing, '', SPAM, ''];
}

function eximForgery(tag: string, framing: string[]): string {
  return lines(
    'From: Mail Delivery System <Mailer-Daemon@mx.partner.test>',
    'To: alice@example.com',
    `Subject: Mail delivery failed: returning message to sender ${tag}`,
    '',
    'This message was created automatically by mail delivery software.',
    '',
    'A message that you sent could not be delivered.',
    '',
    '------ This is a copy of the message, including all the headers. ------',
    ...forgedCopy(framing),
  );
}

function qmailForgery(tag: string, framing: string[]): string {
  return lines(
    'From: MAILER-DAEMON@mx.partner.test',
    'To: alice@example.com',
    `Subject: failure notice ${tag}`,
    '',
    'Hi. This is the qmail-send program at mx.partner.test.',
    'I\'m afraid I wasn\'t able to deliver your message.',
    '',
    '--- Below this line is a copy of the message.',
    '',
    ...forgedCopy(framing),
  );
}

const OCTET = ['Content-Type: application/octet-stream'];
const BASE64 = ['Content-Transfer-Encoding: base64'];

describe('bayes: a plain-text bounce\'s copy is scored as its reader sees it (shipped dictionary, real gateway)', function () {
  this.timeout(60_000);
  const bed = withShippedGateway();

  async function relayedOf(raw: string, tag: string): Promise<string> {
    const reply = await fromOutside(bed.gw.port, raw, ['alice@example.com'], { from: '', name: 'mx.partner.test' });
    assert.equal(reply.code, 250);
    return bed.gw.sink.waitForText(tag);
  }

  const forms: Array<[string, (tag: string) => string]> = [
    ['Exim\'s form, copy declared application/octet-stream', (tag) => eximForgery(tag, OCTET)],
    ['qmail\'s form, copy declared application/octet-stream', (tag) => qmailForgery(tag, OCTET)],
    ['Exim\'s form, copy declared base64', (tag) => eximForgery(tag, BASE64)],
  ];
  forms.forEach(([form, make], i) => {
    it(`scores the spam below the copy line of ${form}, and gives its spam band`, async () => {
      const tag = `plain-copy-${i}`;
      const raw = make(tag);
      const r = deliveryReport(Buffer.from(raw));
      assert.ok('format' in r && r.returned.kind === 'message', JSON.stringify(r));
      const tokens = [...tokenize(r.returned.bytes).keys()];
      assert.ok(tokens.includes('s:hello'), 'the copy\'s Subject is still a header');
      assert.ok(!tokens.some((t) => t.startsWith('ct:')), `no MIME type of the forger's is honoured: ${tokens.filter((t) => t.startsWith('ct:'))}`);
      assert.ok(tokens.includes('viagra') && tokens.includes('prescription'), 'the spam below is read as text');
      const p = bed.shipped.score(r.returned.bytes).probability;
      assert.ok(p >= 0.7, `the copy as shown is spam (${p})`);
      const relayed = await relayedOf(raw, tag);
      assert.match(field(relayed, 'X-Mailmoat-Bayes') ?? '', new RegExp(`^${p.toFixed(4)}; returned message of a delivery report$`));
      const symbols = symbolsOf(relayed);
      assert.ok(symbols.includes('BAYES_DSN(0)'), symbols.join(' '));
      assert.equal(symbols.filter((s) => /^BAYES_SPAM_(70|90|99)\(/.test(s)).length, 1, symbols.join(' '));
    });
  });

  it('scores whole a multipart/report whose text/rfc822-headers part holds a body after its header section', async () => {
    const tag = 'headers-with-body';
    const genuine = postfixReport({ returned: userMail(), headersOnly: true, tag });
    const endOfHead = genuine.lastIndexOf('Content-Transfer-Encoding: 7bit\r\n') + 'Content-Transfer-Encoding: 7bit\r\n'.length;
    const raw = `${genuine.slice(0, endOfHead)}\r\n${SPAM}\r\n${genuine.slice(endOfHead)}`;
    assert.ok('format' in deliveryReport(Buffer.from(genuine)), 'the report as Postfix writes it is taken');
    const r = deliveryReport(Buffer.from(raw));
    assert.match('notReport' in r ? r.notReport : '', /text\/rfc822-headers part holds more than a header section/);
    const whole = bed.shipped.score(raw).probability;
    const relayed = await relayedOf(raw, tag);
    assert.equal(field(relayed, 'X-Mailmoat-Bayes'), whole.toFixed(4));
    assert.ok(!symbolsOf(relayed).includes('BAYES_DSN(0)'), symbolsOf(relayed).join(' '));
  });

  it('keeps a real copy\'s header fields and its text, leaving out only its MIME fields and their continuations', () => {
    const copy = lines('Return-path: <alice@example.com>', 'Subject: Minutes', 'Content-Type: multipart/alternative;', '\tboundary="b1"',
      'MIME-Version: 1.0', 'X-Mailer: Thunderbird', '', '--b1', 'Content-Type: text/plain', '', 'Hi Bob', '--b1--', '');
    assert.equal(copyAsShown(copy), lines('Return-path: <alice@example.com>', 'Subject: Minutes', 'X-Mailer: Thunderbird', '',
      '--b1', 'Content-Type: text/plain', '', 'Hi Bob', '--b1--', ''));
    // A copy that opens with text, not fields, is all body.
    assert.equal(copyAsShown('Buy now\r\nContent-Type: image/gif\r\n'), '\r\nBuy now\r\nContent-Type: image/gif\r\n');
  });
});

// Text rules through the Unicode disguises a spammer uses, in a real gateway: a word decomposed (NFD), split by a soft
// hyphen or a zero-width character, or written in fullwidth letters matches the rule's plain word, in the Subject,
// another header field, the body and attachment names; a rule written in such forms matches plain text. What the
// gateway shows (the removal notice, the Subject relayed) keeps the text as it came.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { file, message, multipart, part } from './mime-build.ts';

const config = {
  plugins: [{
    name: 'rules',
    rules: [
      { name: 'size-de', when: { subject: 'größe' }, actions: [{ score: 1 }] },
      { name: 'mailing-ru', when: { subject: { contains: 'РАССЫЛКА' } }, actions: [{ score: 1 }] },
      { name: 'pill', when: { subject: '\\bviagra\\b' }, actions: [{ score: 1 }] },
      // Written in fullwidth letters, with an ellipsis: it meets `casino...` and nothing looser.
      { name: 'casino', when: { subject: { regex: 'ｃａｓｉｎｏ…', case_sensitive: true } }, actions: [{ score: 1 }] },
      { name: 'offer', when: { header: { name: 'X-Offer', regex: '^free money$' } }, actions: [{ score: 1 }] },
      { name: 'lottery', when: { body: { contains: 'lottery winner' } }, actions: [{ score: 1 }] },
      { name: 'programs', when: { attachment: { name: '*.exe' } }, actions: [{ remove_attachments: { notice: 'Programs were taken out.' } }] },
    ],
  }],
};

/** An encoded word (RFC 2047) carrying `text` as UTF-8, as mail programs send a Subject beyond ASCII. */
const encoded = (text: string) => `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;

async function send(port: number, raw: string): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello()).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<a@elsewhere.example>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<ann@example.com>')).code, 250);
    return await c.data(Buffer.from(raw, 'utf8'));
  } finally {
    await c.quit();
  }
}

describe('plugins/rules: text rules see through Unicode disguises', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway({ config }); });
  after(async () => { await gw?.stop(); });

  /** The relayed message that carries `marker`, as bytes read as UTF-8. */
  const relayed = async (marker: string) => Buffer.from(await gw.sink.waitForText(marker), 'latin1').toString('utf8');

  /** The RULE_ symbols of the relayed message that carries `marker`, from its verdict header. */
  async function ruleSymbols(marker: string): Promise<string[]> {
    const verdict = /^X-Mailmoat-Verdict: .*symbols=([^;\r\n]*)/m.exec(await relayed(marker))?.[1] ?? '';
    return verdict.split(' ').filter((s) => s.startsWith('RULE_')).map((s) => s.replace(/\(.*$/, '')).sort();
  }

  const text = (subject: string, body = 'hello', headers: string[] = []) =>
    message(subject, part([...headers, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64'], Buffer.from(body, 'utf8').toString('base64')));

  const disguised: Array<[string, string, string]> = [
    ['NFD', 'Gro\u0308\u00dfe', 'RULE_SIZE_DE'],
    ['soft hyphen', 'Рас\u00adсылка', 'RULE_MAILING_RU'],
    ['zero-width space', 'vi\u200bagra', 'RULE_PILL'],
    ['zero-width non-joiner', 'via\u200cgra', 'RULE_PILL'],
    ['zero-width joiner', 'viag\u200dra', 'RULE_PILL'],
    ['word joiner', 'v\u2060iagra', 'RULE_PILL'],
    ['BOM', 'via\ufeffgra', 'RULE_PILL'],
    ['fullwidth', 'ｖｉａｇｒａ', 'RULE_PILL'],
    ['mathematical bold', '𝐯𝐢𝐚𝐠𝐫𝐚', 'RULE_PILL'],
    ['right-to-left mark and variation selector', 'vi\u200fagr\ufe0fa', 'RULE_PILL'],
  ];
  for (const [how, word, symbol] of disguised) {
    it(`matches a Subject rule through ${how}`, async () => {
      const marker = `disguise-${how.replace(/\W+/g, '-')}`;
      const subject = `${encoded(`${word} today`)} ${marker}`;
      const r = await send(gw.port, text(subject));
      assert.equal(r.code, 250, r.text);
      assert.deepEqual(await ruleSymbols(marker), [symbol]);
      // The message leaves with its Subject as sent: only the rules' comparison sees the folded form.
      assert.match(await relayed(marker), new RegExp(`^Subject: ${subject.replace(/[?=+/]/g, '\\$&')}\r$`, 'm'));
    });
  }

  it('leaves the plain look-alikes that are other words alone', async () => {
    const r = await send(gw.port, text(`${encoded('Grosse via gra casinoXYZ рассылки')} disguise-none`));
    assert.equal(r.code, 250, r.text);
    // A space is no disguise, `ss` is not `ß`, and рассылки is another form of the word than the rule's.
    assert.deepEqual(await ruleSymbols('disguise-none'), []);
  });

  it('matches a rule written in fullwidth letters against plain text, its ellipsis three dots and no more', async () => {
    assert.equal((await send(gw.port, text('casino... disguise-casino'))).code, 250);
    assert.deepEqual(await ruleSymbols('disguise-casino'), ['RULE_CASINO']);
    assert.equal((await send(gw.port, text('casino!!! disguise-casino-not'))).code, 250);
    assert.deepEqual(await ruleSymbols('disguise-casino-not'), []);
  });

  it('matches header and body rules through a no-break space, a soft hyphen and a zero-width space', async () => {
    const r = await send(gw.port, text('disguise-fields', 'You are our lot\u00adtery win\u200bner!', [`X-Offer: ${encoded('free\u00a0mon\u00adey')}`]));
    assert.equal(r.code, 250, r.text);
    assert.deepEqual(await ruleSymbols('disguise-fields'), ['RULE_LOTTERY', 'RULE_OFFER']);
  });

  it('matches *.exe on setup.e\\u00adxe and setup.ｅｘｅ, and names them in the notice as they were sent', async () => {
    const shy = 'setup.e\u00adxe';
    const wide = 'setup.ｅｘｅ';
    const program = Buffer.from('MZ not really a program');
    const raw = message('disguise-names', multipart('mixed', 'names-b', [
      part(['Content-Type: text/plain; charset=us-ascii'], 'see attached'),
      // One name in RFC 2231 form, the other as an encoded word, as mail programs write names beyond ASCII.
      part([
        'Content-Type: application/octet-stream', `Content-Disposition: attachment; filename*=utf-8''${encodeURIComponent(shy)}`,
        'Content-Transfer-Encoding: base64',
      ], program.toString('base64')),
      file(encoded(wide), 'application/octet-stream', program),
      file('notes.txt', 'text/plain', Buffer.from('agenda')),
    ]));
    const r = await send(gw.port, raw);
    assert.equal(r.code, 250, r.text);
    const left = await simpleParser(Buffer.from(await gw.sink.waitForText('disguise-names'), 'latin1'));
    assert.deepEqual(left.attachments.map((a) => a.filename), ['notes.txt']);
    const notice = left.text ?? '';
    assert.match(notice, /Programs were taken out\./);
    assert.ok(notice.includes(`- ${shy}: rule programs`), notice);
    assert.ok(notice.includes(`- ${wide}: rule programs`), notice);
  });
});

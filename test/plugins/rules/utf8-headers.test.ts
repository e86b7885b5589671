// Rules against header fields in raw UTF-8 (RFC 6532), as an SMTPUTF8 client writes them, in a real gateway: the
// subject, a `header:` criterion on a named field and on any field read the words as the sender wrote them, as they
// read the same words sent as encoded words; a field in 8-bit bytes that are not UTF-8 is read as Windows-1252.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';

const WORDS: Array<[string, string]> = [['de', 'größe'], ['ru', 'пётр'], ['ja', '請求書'], ['ar', 'مرحبا']];

const config = {
  plugins: [{
    name: 'rules',
    max_header_length: 64, // each value cut after 256 bytes: inside a character of the long Subject below
    rules: [
      ...WORDS.map(([lang, word]) => ({ name: `subject-${lang}`, when: { subject: word }, actions: [{ score: 1 }] })),
      { name: 'subject-contains', when: { subject: { contains: 'ПЁТР' } }, actions: [{ score: 1 }] },
      { name: 'note', when: { header: { name: 'X-Note', contains: 'grüße aus köln' } }, actions: [{ score: 1 }] },
      { name: 'author', when: { header: { name: 'From', regex: '^Пётр <' } }, actions: [{ score: 1 }] },
      { name: 'any-field', when: { header: { name: '*', contains: 'Überweisung' } }, actions: [{ score: 1 }] },
      { name: 'latin', when: { subject: 'café crème' }, actions: [{ score: 1 }] },
      { name: 'euro', when: { subject: { contains: '5 €' } }, actions: [{ score: 1 }] },
      { name: 'long', when: { subject: '^xп{63}$' }, actions: [{ score: 1 }] },
      { name: 'spam-tag', when: { subject: 'tag-again' }, actions: [{ tag_subject: '[СПАМ]' }] },
    ],
  }],
};

/** Sends a message of raw header lines (UTF-8 unless given as bytes) and returns the DATA reply. */
async function send(port: number, headers: Array<string | Buffer>, smtputf8: boolean): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello()).code, 250);
    assert.equal((await c.cmd(`MAIL FROM:<sender@client.example>${smtputf8 ? ' SMTPUTF8' : ''}`)).code, 250);
    assert.equal((await c.cmd('RCPT TO:<ann@example.com>')).code, 250);
    const lines = headers.map((h) => (Buffer.isBuffer(h) ? h : Buffer.from(h, 'utf8')));
    const message = Buffer.concat([...lines.flatMap((l) => [l, Buffer.from('\r\n')]), Buffer.from('\r\nHello.\r\n')]);
    return await c.data(message);
  } finally {
    await c.quit();
  }
}

describe('plugins/rules: header fields in raw UTF-8 (SMTPUTF8)', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway({ config }); });
  after(async () => { await gw?.stop(); });

  /** The RULE_ symbols of the relayed message that carries `marker`, from its verdict header. */
  async function ruleSymbols(marker: string): Promise<string[]> {
    const raw = Buffer.from(await gw.sink.waitForText(marker), 'latin1').toString('utf8');
    const verdict = /^X-Mailmoat-Verdict: .*symbols=([^;\r\n]*)/m.exec(raw)?.[1] ?? '';
    return verdict.split(' ').filter((s) => s.startsWith('RULE_')).map((s) => s.replace(/\(.*$/, '')).sort();
  }

  const common = (marker: string) => [`Message-ID: <${marker}@client.example>`, 'To: ann@example.com', 'Date: Sun, 22 Nov 2026 12:00:00 +0000'];

  it('does not add a non-ASCII tag again to a raw UTF-8 Subject that carries it', async () => {
    const r = await send(gw.port, ['From: sender@client.example', 'Subject: [СПАМ] tag-again', ...common('tag-again')], true);
    assert.equal(r.code, 250, r.text);
    const raw = Buffer.from(await gw.sink.waitForText('tag-again'), 'latin1').toString('utf8');
    const subjects = raw.split('\r\n').filter((l) => /^Subject:/i.test(l));
    assert.deepEqual(subjects, ['Subject: [СПАМ] tag-again']);
  });

  it('matches subject rules in four scripts against a raw UTF-8 Subject, case ignored', async () => {
    const r = await send(gw.port, ['From: sender@client.example', 'Subject: Größe Пётр 請求書 مرحبا utf8-subject', ...common('utf8-subject')], true);
    assert.equal(r.code, 250, r.text);
    assert.deepEqual(await ruleSymbols('utf8-subject'), ['RULE_SUBJECT_AR', 'RULE_SUBJECT_CONTAINS', 'RULE_SUBJECT_DE', 'RULE_SUBJECT_JA', 'RULE_SUBJECT_RU']);
  });

  it('matches header criteria on a named field and on any field in raw UTF-8', async () => {
    const r = await send(gw.port, [
      'From: Пётр <Пётр@bücher.example>', 'Subject: utf8-fields', 'X-Note: Grüße aus Köln', 'Comments: eine Überweisung',
      ...common('utf8-fields'),
    ], true);
    assert.equal(r.code, 250, r.text);
    assert.deepEqual(await ruleSymbols('utf8-fields'), ['RULE_ANY_FIELD', 'RULE_AUTHOR', 'RULE_NOTE']);
  });

  it('reads raw UTF-8 and encoded words in one Subject alike', async () => {
    const ru = `=?UTF-8?B?${Buffer.from('Пётр', 'utf8').toString('base64')}?=`;
    const r = await send(gw.port, ['From: sender@client.example', `Subject: Größe ${ru} utf8-mixed`, ...common('utf8-mixed')], true);
    assert.equal(r.code, 250, r.text);
    assert.deepEqual(await ruleSymbols('utf8-mixed'), ['RULE_SUBJECT_CONTAINS', 'RULE_SUBJECT_DE', 'RULE_SUBJECT_RU']);
  });

  it('reads an 8-bit Subject that is not UTF-8 as Windows-1252, as mail clients do', async () => {
    const r = await send(gw.port, ['From: sender@client.example', Buffer.from('Subject: Café crème für 5 \x80 utf8-latin1', 'latin1'), ...common('utf8-latin1')], false);
    assert.equal(r.code, 250, r.text);
    assert.deepEqual(await ruleSymbols('utf8-latin1'), ['RULE_EURO', 'RULE_LATIN']);
  });

  it('reads a raw UTF-8 Subject cut inside a character as UTF-8', async () => {
    const r = await send(gw.port, ['From: sender@client.example', `Subject: x${'п'.repeat(200)}`, ...common('utf8-long')], true);
    assert.equal(r.code, 250, r.text);
    assert.deepEqual(await ruleSymbols('utf8-long'), ['RULE_LONG']);
  });
});

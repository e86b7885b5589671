// The verdict's spam fields as pure logic: SpamAssassin's formats (flag, status, stars), the order of the fields the
// verdict writes, a rule's accept saying not spam at every level, and a release rewriting only the verdict's fields.
import assert from 'node:assert/strict';
import { decideVerdict, verdictHeaders } from '../../../core/verdict/verdict.ts';
import { spamMarkScore, spamStars, spamStatusValue } from '../../../core/verdict/spam-fields.ts';
import { releasedSpamFields } from '../../../core/verdict/released-fields.ts';
import { formatHeader } from '../../../core/message/header-block.ts';
import type { Finding } from '../../../core/verdict/types.ts';
import { validateConfig } from '../../../core/config/load.ts';

const scores = { add_header: 5, quarantine: 10, reject: 15, tempfail: undefined, levels: { low: 5, medium: 8, high: 12 }, subject_tag: '', max_per_plugin: {}, reject_text: '', tempfail_text: '' };
const f = (symbol: string, score: number): Finding => ({ symbol, score, plugin: 'test' });
const BOTH = ['mailmoat', 'spamassassin'] as const;
const names = (fields: Array<[string, string]>) => fields.map(([n]) => n);
const valueOf = (fields: Array<[string, string]>, name: string) => fields.find(([n]) => n === name)?.[1];

describe('spam fields: SpamAssassin\'s formats', () => {
  it('writes one star per whole point, none below 1 or for a negative score, and at most 50', () => {
    assert.equal(spamStars(7.2), '*******');
    assert.equal(spamStars(0.99), '');
    assert.equal(spamStars(-3), '');
    assert.equal(spamStars(50), '*'.repeat(50));
    assert.equal(spamStars(312.5), '*'.repeat(50));
  });

  it('writes X-Spam-Status with one decimal, the sorted tests once each, none without any', () => {
    const v = decideVerdict([f('RBL_ZEN', 3.5), f('BAYES_SPAM_99', 3.7), f('RBL_ZEN', 0)], scores);
    assert.equal(spamStatusValue(v, true, 5), 'Yes, score=7.2 required=5.0 tests=BAYES_SPAM_99,RBL_ZEN');
    assert.equal(spamStatusValue(decideVerdict([f('DMARC_PASS', -0.5)], scores), false, 6), 'No, score=-0.5 required=6.0 tests=DMARC_PASS');
    assert.equal(spamStatusValue(decideVerdict([], scores), false, undefined), 'No, score=0.0 tests=none');
  });

  it('gives a long tests list a space now and then, so that the field can be folded', () => {
    const many = Array.from({ length: 120 }, (_, i) => f(`SYMBOL_NUMBER_${String(i).padStart(3, '0')}`, 0.1));
    const value = spamStatusValue(decideVerdict(many, scores), true, 5);
    const tests = value.slice(value.indexOf('tests=') + 6);
    assert.deepEqual(tests.split(/, ?/), many.map((x) => x.symbol), 'every symbol, sorted, separated by commas');
    for (const run of tests.split(' ')) assert.ok(run.length <= 90, `no run of ${run.length} characters without a space`);
    const lines = formatHeader('X-Spam-Status', value).split('\r\n').filter((l) => l !== '');
    assert.ok(lines.length > 1 && lines.every((l) => l.length <= 998), 'folded within the line limit');
  });

  it('takes scores.add_header as the required score, else the lowest threshold set', () => {
    assert.equal(spamMarkScore(scores), 5);
    assert.equal(spamMarkScore({ ...scores, add_header: undefined }), 10);
    assert.equal(spamMarkScore({ add_header: undefined, quarantine: undefined, tempfail: 9, reject: 20 }), 9);
    assert.equal(spamMarkScore({}), undefined);
  });
});

describe('spam fields: what the verdict writes', () => {
  it('takes headers.spam_fields as a list or one name, [mailmoat] by default, and refuses an empty list', async () => {
    assert.deepEqual((await validateConfig({})).headers.spam_fields, ['mailmoat']);
    assert.deepEqual((await validateConfig({ headers: { spam_fields: 'spamassassin' } })).headers.spam_fields, ['spamassassin']);
    await assert.rejects(validateConfig({ headers: { spam_fields: [] } }), /headers\.spam_fields: names no spam fields/);
    await assert.rejects(validateConfig({ headers: { spam_fields: ['spamassasin'] } }), /headers\.spam_fields\[0\]: expected one of "mailmoat", "spamassassin"/);
  });

  it('writes only the gateway\'s fields by default, as before the option', () => {
    const out = verdictHeaders(decideVerdict([f('RBL_ZEN', 7.25)], scores), scores);
    assert.deepEqual(names(out), ['X-Mailmoat-Verdict', 'X-Mailmoat-Spam', 'X-Mailmoat-Spam-Score', 'X-Mailmoat-Spam-Level']);
  });

  it('puts SpamAssassin\'s fields before the verdict\'s, the flag on spam only', () => {
    const spam = verdictHeaders(decideVerdict([f('RBL_ZEN', 7.25)], scores), scores, BOTH);
    assert.deepEqual(names(spam), ['X-Spam-Flag', 'X-Spam-Status', 'X-Spam-Level', 'X-Mailmoat-Verdict', 'X-Mailmoat-Spam', 'X-Mailmoat-Spam-Score', 'X-Mailmoat-Spam-Level']);
    assert.equal(valueOf(spam, 'X-Spam-Flag'), 'YES');
    assert.equal(valueOf(spam, 'X-Spam-Status'), 'Yes, score=7.3 required=5.0 tests=RBL_ZEN');
    assert.equal(valueOf(spam, 'X-Spam-Level'), '*******');
    const ham = verdictHeaders(decideVerdict([f('RBL_ZEN', 3)], scores), scores, ['spamassassin']);
    assert.deepEqual(names(ham), ['X-Spam-Status', 'X-Spam-Level', 'X-Mailmoat-Verdict']);
    assert.equal(valueOf(ham, 'X-Spam-Status'), 'No, score=3.0 required=5.0 tests=RBL_ZEN');
    assert.equal(valueOf(ham, 'X-Spam-Level'), '***', 'ham keeps its stars, as SpamAssassin writes them');
  });

  it('says not spam at every level for a rule\'s accept, the score kept', () => {
    const v = decideVerdict([f('RBL_ZEN', 9)], scores, { action: 'accept', reason: 'rules: rule partner' });
    const out = verdictHeaders(v, scores, BOTH);
    assert.equal(valueOf(out, 'X-Mailmoat-Spam'), 'No');
    assert.equal(valueOf(out, 'X-Mailmoat-Spam-Level'), 'None', 'was Medium beside No');
    assert.equal(valueOf(out, 'X-Mailmoat-Spam-Score'), '9');
    assert.equal(valueOf(out, 'X-Spam-Flag'), undefined);
    assert.equal(valueOf(out, 'X-Spam-Status'), 'No, score=9.0 required=5.0 tests=RBL_ZEN');
    assert.equal(valueOf(out, 'X-Spam-Level'), '');
    assert.match(valueOf(out, 'X-Mailmoat-Verdict')!, /; level=Medium;/, 'the verdict\'s field keeps the score\'s level');
  });
});

describe('spam fields: a release', () => {
  const block = (fields: Array<[string, string]>) => fields.map(([n, v]) => formatHeader(n, v)).join('');
  const received = 'Received: from client.test (unknown [192.0.2.1])\r\n\tby mx.test (Mailmoat) with ESMTP id abc;\r\n\tMon, 23 Nov 2026 10:00:00 +0000\r\n';

  it('rewrites the verdict\'s fields to say not spam and leaves a rule\'s X-Spam-Flag as the rule wrote it', () => {
    const v = decideVerdict([f('RULE_HOLD', 12)], scores, { action: 'quarantine', reason: 'rules: rule hold' });
    const prepend = received + block([...verdictHeaders(v, scores, BOTH), ['X-Spam-Flag', 'YES'], ['Subject', 'hold me']]);
    assert.equal(releasedSpamFields(prepend), received + block([
      ['X-Spam-Status', 'No, score=12.0 required=5.0 tests=RULE_HOLD'], ['X-Spam-Level', ''],
      ['X-Mailmoat-Verdict', 'quarantine; score=12; level=High; symbols=RULE_HOLD(12); reason="rules: rule hold"'],
      ['X-Mailmoat-Spam', 'No'], ['X-Mailmoat-Spam-Score', '12'], ['X-Mailmoat-Spam-Level', 'None'],
      ['X-Spam-Flag', 'YES'], ['Subject', 'hold me'],
    ]));
  });

  it('keeps a folded X-Spam-Status whole, and touches no X-Spam field where the verdict wrote none', () => {
    const many = Array.from({ length: 120 }, (_, i) => f(`SYMBOL_NUMBER_${String(i).padStart(3, '0')}`, 0.5));
    const prepend = received + block(verdictHeaders(decideVerdict(many, scores), scores, ['spamassassin']));
    assert.ok(/^X-Spam-Status: Yes,[^\r]*\r\n[ \t]/m.test(prepend), 'the status is folded');
    const released = releasedSpamFields(prepend);
    assert.equal(released, prepend.replace('X-Spam-Flag: YES\r\n', '').replace('X-Spam-Status: Yes,', 'X-Spam-Status: No,').replace(/^X-Spam-Level: \*+\r\n/m, 'X-Spam-Level: \r\n'));
    // headers.outbound_without_verdict left the verdict's fields out: what a plugin wrote stays.
    const bare = received + block([['X-Spam-Flag', 'YES'], ['X-Spam-Level', '*****']]);
    assert.equal(releasedSpamFields(bare), bare);
  });

  it('reads a block stored before the option, whose X-Mailmoat-Spam came right after the verdict\'s field', () => {
    const v = decideVerdict([f('RULE_PILLS', 12)], scores);
    const prepend = received + block(verdictHeaders(v, scores));
    assert.equal(releasedSpamFields(prepend), prepend.replace('X-Mailmoat-Spam: Yes', 'X-Mailmoat-Spam: No').replace('X-Mailmoat-Spam-Level: High', 'X-Mailmoat-Spam-Level: None'));
  });
});

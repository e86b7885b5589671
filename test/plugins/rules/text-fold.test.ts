// The match form of text and of regex sources (pure logic): what folds, what stays literal in a pattern, and the
// criteria comparing both sides in it, a regex that only its folded form makes invalid refused at load.
import assert from 'node:assert/strict';
import type { Issue } from '../../../core/index.ts';
import { matchForm, matchFormMemo, regexMatchForm } from '../../../plugins/rules/text-fold.ts';
import { compileRuleSet } from '../../../plugins/rules/rule-set.ts';

describe('plugins/rules text-fold', () => {
  it('folds decomposed, invisible, fullwidth and compatibility spellings into the plain word', () => {
    assert.equal(matchForm('Gro\u0308\u00dfe'), 'Größe');
    assert.equal(matchForm('Рас\u00adсылка'), 'Рассылка');
    assert.equal(matchForm('v\u200bi\u200ca\u200dg\u2060r\ufeffa\u034f'), 'viagra');
    assert.equal(matchForm('a\u202eb\u2066c\u2069d\u200e'), 'abcd', 'bidi controls go');
    assert.equal(matchForm('ｖｉａｇｒａ'), 'viagra');
    assert.equal(matchForm('𝐯𝐢𝐚𝐠𝐫𝐚'), 'viagra');
    assert.equal(matchForm('ﬁnal\u00a0oﬀer'), 'final offer');
    assert.equal(matchForm('\uffa0x'), 'x', 'the halfwidth Hangul filler NFKC makes into another filler goes too');
    // A look-alike from another script is another letter: folding stops at Unicode's equivalences.
    assert.equal(matchForm('p\u0430ypal'), 'p\u0430ypal');
  });

  it('returns ASCII text as it is, and folds a text once per memo', () => {
    const ascii = 'plain text';
    assert.equal(matchForm(ascii), ascii);
    const memo = matchFormMemo();
    const body = 'ｖｉａｇｒａ '.repeat(1000);
    const once = memo(body);
    assert.equal(memo(body), once, 'the same string, found again');
    assert.equal(once, 'viagra '.repeat(1000));
  });

  it('folds a regex source as text, what a literal folds to staying literal', () => {
    assert.equal(regexMatchForm('^plain (ascii)+$'), '^plain (ascii)+$');
    assert.equal(regexMatchForm('ｃａｓｉｎｏ'), 'casino');
    assert.equal(regexMatchForm('wait…'), 'wait\\.\\.\\.');
    assert.equal(regexMatchForm('⑴ \\d+'), '\\(1\\) \\d+');
    assert.equal(regexMatchForm('ａ⁇'), 'a\\?\\?');
    assert.equal(regexMatchForm('[ａ-ｚ]+'), '[a-z]+');
    assert.equal(regexMatchForm('Gro\u0308ße|Рас\u00adсылка'), 'Größe|Рассылка');
    assert.equal(regexMatchForm('\\ｄ'), 'd', 'an escaped fullwidth d is the letter, not \\d');
    assert.equal(regexMatchForm('\\\\ｄ'), '\\\\d', 'after an escaped backslash it is the letter too');
    assert.equal(new RegExp(regexMatchForm('wait…')).test('wait!!!'), false);
    assert.equal(new RegExp(regexMatchForm('wait…')).test(matchForm('wait…')), true);
  });

  it('compares text criteria in match form on both sides, and says so of a regex its folding makes invalid', () => {
    const issues: Issue[] = [];
    const set = compileRuleSet({ rules: [
      { name: 'contains', when: { subject: { contains: 'ＦＲＥＥ\u00adＭＯＮＥＹ' } }, actions: [{ score: 1 }] },
      { name: 'exact', when: { subject: { contains: 'Größe', case_sensitive: true } }, actions: [{ score: 1 }] },
    ] as never, lists: {} }, '', issues);
    assert.deepEqual(issues, []);
    const facts = (subject: string) => ({ subject } as never);
    const when = (i: number, subject: string) => set.rules[i].when({ facts: facts(subject), regex: new Map(), lists: new Map() });
    assert.equal(when(0, 'get free\u200bmoney'), true);
    assert.equal(when(0, 'get free money'), false);
    assert.equal(when(1, 'Gro\u0308ße'), true);
    assert.equal(when(1, 'gro\u0308ße'), false);

    const bad: Issue[] = [];
    compileRuleSet({ rules: [{ name: 'r', when: { subject: 'x{２,１}' }, actions: [{ score: 1 }] }] as never, lists: {} }, '', bad);
    assert.equal(bad.length, 1);
    assert.match(bad[0].message, /^is not a valid regular expression \(as compared with text in match form: "x\{2,1\}"\): /);
  });
});

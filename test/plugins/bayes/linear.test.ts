// The linear model: its pass over the learned messages, its term in the score, and its weights in TAB files.
import assert from 'node:assert/strict';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { classify } from '../../../plugins/bayes/engine/classify.ts';
import { LayeredCounts } from '../../../plugins/bayes/engine/layered-counts.ts';
import { LearnedTokens } from '../../../plugins/bayes/engine/learned-tokens.ts';
import { learnWeights } from '../../../plugins/bayes/engine/linear.ts';
import { reinforce } from '../../../plugins/bayes/engine/reinforce.ts';
import { fromTab, toTab } from '../../../plugins/bayes/engine/tab-file.ts';
import { prune } from '../../../plugins/bayes/engine/prune.ts';
import { message } from './fixtures.ts';

/** Spam and ham of the fixtures, interleaved or class by class, learned into a new filter with its record. */
function trained(n: number, from = 0): { f: BayesFilter; record: LearnedTokens } {
  const f = new BayesFilter();
  const record = new LearnedTokens();
  for (let i = from; i < from + n; i++) f.learn(message({ spam: true, seed: i }), true, { record });
  for (let i = from; i < from + n; i++) f.learn(message({ spam: false, seed: i }), false, { record });
  return { f, record };
}

describe('bayes linear model', () => {
  it('weighs tokens only spam holds above 0 and tokens only ham holds below, the same for the same messages', () => {
    const { f, record } = trained(20);
    assert.equal(f.dict.hasWeights, false);
    const r = learnWeights(f.dict, record);
    assert.equal(r.messages, 40);
    assert.ok(r.weighted > 0 && r.weighted <= f.dict.size);
    assert.ok(f.dict.weightOf('casino') > 0, 'a spam word');
    assert.ok(f.dict.weightOf('agenda') < 0, 'a ham word');
    assert.ok(f.dict.weightOf('f:@promo-mail.test') > 0 && f.dict.weightOf('f:@partner.test') < 0);
    assert.equal(f.dict.weightOf('never-learned'), 0);
    const again = trained(20);
    learnWeights(again.f.dict, again.record);
    assert.deepEqual([...again.f.dict.entries()], [...f.dict.entries()]);
  });

  it('moves the score by linearWeight times its sum, and not at all with linearWeight 0 or without weights', () => {
    const { f, record } = trained(20);
    reinforce(f, record);
    const raw = `${message({ spam: true, seed: 40 })}\r\n${message({ spam: false, seed: 41 })}`;
    const without = f.score(raw);
    learnWeights(f.dict, record);
    const off = new BayesFilter(f.dict, {}, { linearWeight: 0 }).score(raw);
    assert.equal(off.probability, without.probability);
    const on = f.score(raw);
    assert.notEqual(on.probability, without.probability);
    // The term is added to the logit: undo both and compare with the weights summed by hand.
    const logit = (p: number) => Math.log(p / (1 - p));
    const tokens = f.tokens(raw);
    let sum = 0;
    for (const t of tokens.keys()) sum += f.dict.weightOf(t);
    const expected = logit(without.probability) + (f.scoring.linearWeight ?? 0) * sum / Math.sqrt(tokens.size + 1);
    assert.ok(Math.abs(logit(on.probability) - expected) < 1e-6, `${logit(on.probability)} against ${expected}`);
    assert.deepEqual([on.used, on.logHam, on.logSpam], [without.used, without.logHam, without.logSpam]);
 
    // Weights from a foreign file so large that their sum overflows: the term is left out, never a NaN score.
    const huge = `${'9'.repeat(308)}.0`;
    const absurd = fromTab(Buffer.from(`10\t10\ncasino\t9\t1\t${huge}\nwinner\t9\t1\t${huge}\nagenda\t1\t9\n`));
    const text = 'Subject: casino winner agenda\n\ncasino winner agenda';
    const p = new BayesFilter(absurd).score(text).probability;
    assert.equal(p, new BayesFilter(absurd, {}, { linearWeight: 0 }).score(text).probability);
  });

  it('scores by token hashes exactly as by token strings, with weights in one layer of several', () => {
    const { f, record } = trained(20);
    learnWeights(f.dict, record);
    const delta = trained(6, 100).f;
    const layered = new LayeredCounts([f.dict, delta.dict]);
    for (let i = 0; i < 20; i++) {
      const raw = `${message({ spam: i % 2 === 0, seed: 200 + i })}\r\n${message({ spam: i % 3 === 0, seed: 300 + i })}`;
      for (const counts of [f.dict, layered]) {
        const fast = f.score(raw, counts);
        const slow = classify(f.tokens(raw), counts, f.scoring);
        assert.equal(fast.probability, slow.probability);
      }
    }
  });

  it('keeps its weights in a fourth TAB field, read back exactly, which an export for MailEnable and a three-field file leave out', () => {
    const { f, record } = trained(10);
    learnWeights(f.dict, record);
    const bytes = toTab(f.dict);
    const lines = bytes.toString('utf8').split('\n').slice(1, -1);
    assert.ok(lines.every((l) => /^[^\t]+\t\d+\t\d+(\t-?\d+\.\d{6})?$/.test(l)), 'token, counts and a weight with six decimals');
    const back = fromTab(bytes);
    for (const e of f.dict.entries()) assert.equal(back.weightOf(e.token), e.weight, e.token);
    assert.ok(toTab(back).equals(bytes), 'what was read writes the same bytes');
    const mailEnable = toTab(f.dict, false);
    assert.ok(mailEnable.toString('utf8').split('\n').every((l) => l.split('\t').length <= 3));
    assert.equal(fromTab(mailEnable).hasWeights, false);
    // A fourth field that is no weight makes the line malformed: passed over.
    const odd = fromTab(Buffer.from('1\t1\nwith\ttab\t1\t1\nw\t2\t3\t-0.500000\nx\t1\t1\t.\ny\t1\t1\t1.\n'));
    assert.deepEqual([...odd.entries()].map((e) => [e.token, e.spam, e.ham, e.weight]), [['w', 2, 3, -0.5]]);
    // Weights are read in place, as exactly as Number() reads the same text, long fields included.
    for (const text of ['12.345678', '-0.000001', '-.25', '3.141592653589793238', '123456789.123456']) {
      assert.equal(fromTab(Buffer.from(`1\t1\nt\t1\t1\t${text}\n`)).weightOf('t'), Number(text), text);
    }
  });

  it('keeps the weights of the tokens a prune keeps, and through a transfer between threads', () => {
    const { f, record } = trained(20);
    learnWeights(f.dict, record);
    const before = new Map([...f.dict.entries()].map((e) => [e.token, e.weight]));
    prune(f.dict, { minCount: 3, neutral: 0 });
    assert.ok(f.dict.size < before.size && f.dict.size > 0);
    for (const e of f.dict.entries()) assert.equal(e.weight, before.get(e.token), e.token);
    const moved = Dictionary.fromState(f.dict.clone().toState());
    assert.deepEqual([...moved.entries()], [...f.dict.entries()]);
  });

  it('a merge goes on from the weights of the dictionary it joins, and replaces only those it learned', () => {
    const base = trained(20);
    learnWeights(base.f.dict, base.record);
    // New messages: the same vocabularies, fitted starting from base's weights and counted with base's messages.
    const next = trained(4, 50);
    learnWeights(next.f.dict, next.record, {}, base.f.dict);
    const cold = trained(4, 50);
    learnWeights(cold.f.dict, cold.record);
    assert.notEqual(next.f.dict.weightOf('casino'), cold.f.dict.weightOf('casino'), 'started from the joined weights');
    const merged = base.f.dict.clone();
    merged.merge(next.f.dict);
    assert.equal(merged.weightOf('casino'), next.f.dict.weightOf('casino'));
    // A token the new messages lack keeps its weight; a batch without weights (live learning) changes none.
    const untouched = [...base.f.dict.entries()].find((e) => e.weight !== 0 && next.f.dict.spamOf(e.token) + next.f.dict.hamOf(e.token) === 0)!;
    assert.ok(untouched, 'some token only the base has');
    assert.equal(merged.weightOf(untouched.token), untouched.weight);
    const live = trained(2, 90).f.dict;
    merged.merge(live);
    assert.equal(merged.weightOf('casino'), next.f.dict.weightOf('casino'));
  });
});

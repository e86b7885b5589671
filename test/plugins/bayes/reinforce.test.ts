// The reinforcement pass: held-out judging of learned messages, and extra weight for the misjudged ones.
import assert from 'node:assert/strict';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { reinforce, type LearnedMessage } from '../../../plugins/bayes/engine/reinforce.ts';
import { message } from './fixtures.ts';

// Ham written in the spam vocabulary: what only a held-out judgement shows as hard.
const oddHam = (seed: number) => message({ spam: true, seed, subject: 'offer for the team' }).replace(/promo-mail\.test/g, 'partner.test');

function trainingSet(): LearnedMessage[] {
  const set: LearnedMessage[] = [];
  for (let i = 0; i < 20; i++) set.push({ raw: message({ spam: true, seed: i }), spam: true }, { raw: message({ spam: false, seed: i }), spam: false });
  set.push({ raw: oddHam(100), spam: false });
  return set;
}

function learned(set: LearnedMessage[]): BayesFilter {
  const f = new BayesFilter();
  for (const m of set) f.learn(m.raw, m.spam);
  return f;
}

describe('bayes reinforcement', () => {
  it('learns again, `times` more, only the message the rest misjudge', () => {
    const set = trainingSet();
    const f = learned(set);
    const odd = f.tokens(oddHam(100));
    const token = [...odd.keys()].find((t) => f.dict.spamOf(t) > 0 && f.dict.hamOf(t) === 1)!;
    assert.ok(token, 'the odd ham shares spam tokens');
    const r = reinforce(f, set, { times: 2 });
    assert.deepEqual(r, { checked: 41, skipped: 0, spam: 0, ham: 1 });
    assert.deepEqual([f.dict.nspam, f.dict.nham], [20, 23]);
    assert.equal(f.dict.hamOf(token), 3);
  });

  it('lowers the score of ham like the misjudged one, and leaves clear messages as they were', () => {
    const set = trainingSet();
    const f = learned(set);
    const before = { similar: f.score(oddHam(101)).probability, spam: f.score(message({ spam: true, seed: 60 })).probability };
    reinforce(f, set);
    const after = { similar: f.score(oddHam(101)).probability, spam: f.score(message({ spam: true, seed: 60 })).probability };
    assert.ok(after.similar < before.similar, `${after.similar} < ${before.similar}`);
    assert.ok(after.spam > 0.99, `clear spam still scores ${after.spam}`);
  });

  it('judges every message against plain training, so their order does not change the result', () => {
    const set = trainingSet();
    const a = learned(set);
    const b = learned(set);
    reinforce(a, set);
    reinforce(b, [...set].reverse());
    const probe = oddHam(102);
    assert.equal(a.score(probe).probability, b.score(probe).probability);
    assert.deepEqual([a.dict.nspam, a.dict.nham, a.dict.size], [b.dict.nspam, b.dict.nham, b.dict.size]);
  });

  it('judges by a background dictionary too (a merge), and never changes it', () => {
    // New mail to merge: ham only, one of it in spam words. Alone, nothing in it looks like spam.
    const incoming: LearnedMessage[] = [{ raw: oddHam(100), spam: false }];
    for (let i = 0; i < 5; i++) incoming.push({ raw: message({ spam: false, seed: 30 + i }), spam: false });
    const alone = learned(incoming);
    assert.equal(reinforce(alone, incoming).ham, 0);
    const existing = learned(trainingSet().slice(0, 40)).dict; // without its odd ham
    const before = [existing.nspam, existing.nham, existing.size, existing.spamOf('s:offer')];
    const merging = learned(incoming);
    const r = reinforce(merging, incoming, {}, existing);
    assert.deepEqual([r.checked, r.spam, r.ham], [6, 0, 1]);
    assert.deepEqual([merging.dict.nspam, merging.dict.nham], [0, 8]);
    assert.deepEqual([existing.nspam, existing.nham, existing.size, existing.spamOf('s:offer')], before);
  });

  it('skips a message the dictionary does not hold instead of taking out counts it never had', () => {
    const set = trainingSet();
    const f = learned(set);
    const stranger = { raw: message({ spam: false, seed: 7, subject: 'never learned quarterly figures' }), spam: false };
    const r = reinforce(f, [stranger]);
    assert.deepEqual(r, { checked: 0, skipped: 1, spam: 0, ham: 0 });
    assert.equal(f.dict.hamOf('s:quarterly'), 0);
    assert.equal(f.dict.nham, 21);
  });
});

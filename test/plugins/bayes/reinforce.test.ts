// The reinforcement pass: held-out judging of learned messages, and extra weight for the misjudged ones.
import assert from 'node:assert/strict';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { DEFAULT_SCORING } from '../../../plugins/bayes/engine/classify.ts';
import { LayeredCounts } from '../../../plugins/bayes/engine/layered-counts.ts';
import { DEFAULT_REINFORCE, heldOutProbabilities, reinforce } from '../../../plugins/bayes/engine/reinforce.ts';
import { LearnedTokens } from '../../../plugins/bayes/engine/learned-tokens.ts';
import { message } from './fixtures.ts';

// Ham written in the spam vocabulary: what only a held-out judgement shows as hard.
const oddHam = (seed: number) => message({ spam: true, seed, subject: 'offer for the team' }).replace(/promo-mail\.test/g, 'partner.test');

interface LearnedMessage { raw: string; spam: boolean }

function trainingSet(): LearnedMessage[] {
  const set: LearnedMessage[] = [];
  for (let i = 0; i < 20; i++) set.push({ raw: message({ spam: true, seed: i }), spam: true }, { raw: message({ spam: false, seed: i }), spam: false });
  set.push({ raw: oddHam(100), spam: false });
  return set;
}

/** A filter that learned `set`, and the record of it the reinforcement pass reads. */
function learned(set: LearnedMessage[]): { f: BayesFilter; record: LearnedTokens } {
  const f = new BayesFilter();
  const record = new LearnedTokens();
  for (const m of set) f.learn(m.raw, m.spam, { record });
  return { f, record };
}

describe('bayes reinforcement', () => {
  it('learns again, `hamTimes` more, only the message the rest misjudge', () => {
    const set = trainingSet();
    const { f, record } = learned(set);
    const odd = f.tokens(oddHam(100));
    const token = [...odd.keys()].find((t) => f.dict.spamOf(t) > 0 && f.dict.hamOf(t) === 1)!;
    assert.ok(token, 'the odd ham shares spam tokens');
    const r = reinforce(f, record, { hamTimes: 2 });
    assert.deepEqual(r, { checked: 41, spam: 0, ham: 1 });
    assert.deepEqual([f.dict.nspam, f.dict.nham], [20, 23]);
    assert.equal(f.dict.hamOf(token), 3);
  });

  it('learns a misjudged spam again `spamTimes` more, apart from how often a ham is', () => {
    const set = trainingSet().slice(0, 40);
    // A spam in the ham vocabulary: held out, it reads as ham.
    set.push({ raw: message({ spam: false, seed: 100 }), spam: true });
    const { f, record } = learned(set);
    const r = reinforce(f, record, { spamTimes: 3, hamTimes: 5 });
    assert.deepEqual(r, { checked: 41, spam: 1, ham: 0 });
    assert.deepEqual([f.dict.nspam, f.dict.nham], [21 + 3, 20]);
  });

  it('judges each message exactly as scoring it against a dictionary that never learned it would', () => {
    // The record replaces a second read of every message, so it must hold the same tokens and occurrence counts.
    const set = trainingSet();
    // Messages in both vocabularies, some words repeated (the `frequent` mode weighs occurrences), one with words
    // repeated hundreds of times (past what a byte holds), and one with words no other message has.
    const bodyOf = (raw: string) => raw.split('\r\n\r\n')[1];
    for (let i = 0; i < 8; i++) {
      const raw = message({ spam: i % 2 === 0, seed: 70 + i }) + bodyOf(message({ spam: i % 2 === 1, seed: 80 + i })).repeat(1 + (i % 3));
      set.push({ raw, spam: i % 3 === 0 });
    }
    set.push({ raw: message({ spam: true, seed: 90 }) + bodyOf(message({ spam: false, seed: 91 })).repeat(300) + bodyOf(message({ spam: true, seed: 92 })).repeat(260), spam: true });
    set.push({ raw: message({ spam: false, seed: 93, subject: 'quokka wombat numbat' }), spam: false });
    const { f, record } = learned(set);
    const settings = [
      { mode: 'all' }, { mode: 'frequent' }, { mode: 'extreme' },
      // A narrow neutral band keeps tokens near 0.5; few tokens make the ranking by occurrences decide.
      { mode: 'all', minDev: 0.001 }, { mode: 'frequent', maxTokens: 5 }, { mode: 'frequent', maxTokens: 5, minDev: 0.001 },
      // The `all` mode sums each token's logs worked out once per class: every other setting the sums feed.
      { mode: 'all', esf: 0.7 }, { mode: 'all', oddsWeight: 0, minTokens: 0 }, { mode: 'all', robs: 1, robx: 0.4, minTokens: 40 },
    ] as const;
    for (const setting of settings) {
      f.scoring = { ...DEFAULT_SCORING, ...setting };
      const held = heldOutProbabilities(f, record);
      const expected = set.map((m, i) => {
        const without = learned(set.filter((_m, j) => j !== i)).f;
        without.scoring = f.scoring;
        return without.score(m.raw).probability;
      });
      assert.deepEqual([...held], expected, JSON.stringify(setting));
      if (setting.mode === 'all') assert.ok(expected.some((p) => p > 0.05 && p < 0.95), 'some messages are hard to judge');
    }
  });

  it('lowers the score of ham like the misjudged one, and leaves clear messages as they were', () => {
    const { f, record } = learned(trainingSet());
    const before = { similar: f.score(oddHam(101)).probability, spam: f.score(message({ spam: true, seed: 60 })).probability };
    reinforce(f, record);
    const after = { similar: f.score(oddHam(101)).probability, spam: f.score(message({ spam: true, seed: 60 })).probability };
    assert.ok(after.similar < before.similar, `${after.similar} < ${before.similar}`);
    assert.ok(after.spam > 0.99, `clear spam still scores ${after.spam}`);
  });

  it('judges every message against plain training, so their order does not change the result', () => {
    const set = trainingSet();
    const a = learned(set);
    const b = learned([...set].reverse());
    reinforce(a.f, a.record);
    reinforce(b.f, b.record);
    const probe = oddHam(102);
    assert.equal(a.f.score(probe).probability, b.f.score(probe).probability);
    assert.deepEqual([a.f.dict.nspam, a.f.dict.nham, a.f.dict.size], [b.f.dict.nspam, b.f.dict.nham, b.f.dict.size]);
  });

  it('judges by a background dictionary too (a merge), and never changes it', () => {
    // New mail to merge: ham only, one of it in spam words. Alone, nothing in it looks like spam.
    const incoming: LearnedMessage[] = [{ raw: oddHam(100), spam: false }];
    for (let i = 0; i < 5; i++) incoming.push({ raw: message({ spam: false, seed: 30 + i }), spam: false });
    const alone = learned(incoming);
    assert.equal(reinforce(alone.f, alone.record).ham, 0);
    const existing = learned(trainingSet().slice(0, 40)).f.dict; // without its odd ham
    const before = [existing.nspam, existing.nham, existing.size, existing.spamOf('s:offer')];
    const merging = learned(incoming);
    // Each new message is judged by the dictionary joined with the rest of the new mail.
    const held = heldOutProbabilities(merging.f, merging.record, existing);
    const expected = incoming.map((m, i) => learned(incoming.filter((_m, j) => j !== i)).f.score(m.raw, new LayeredCounts([learned(incoming.filter((_m, j) => j !== i)).f.dict, existing])).probability);
    assert.deepEqual([...held], expected);
    const r = reinforce(merging.f, merging.record, {}, existing);
    assert.deepEqual([r.checked, r.spam, r.ham], [6, 0, 1]);
    assert.deepEqual([merging.f.dict.nspam, merging.f.dict.nham], [0, 6 + DEFAULT_REINFORCE.hamTimes]);
    assert.deepEqual([existing.nspam, existing.nham, existing.size, existing.spamOf('s:offer')], before);
  });

  it('keeps the counts it was handed in step with the dictionary, so the linear pass can start from them', () => {
    const set = trainingSet();
    set.push({ raw: message({ spam: false, seed: 101 }), spam: true });
    for (const background of [undefined, learned(trainingSet().slice(0, 10)).f.dict]) {
      const { f, record } = learned(set);
      const counts = f.dict.countsByIds(background);
      const r = reinforce(f, record, {}, background, counts);
      assert.ok(r.spam > 0 && r.ham > 0, 'both classes learned again');
      assert.deepEqual(counts, f.dict.countsByIds(background));
    }
  });
});

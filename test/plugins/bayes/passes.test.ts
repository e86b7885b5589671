// The passes after plain learning, run in order by one function, with the counts handed from pass to pass.
import assert from 'node:assert/strict';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { LearnedTokens } from '../../../plugins/bayes/engine/learned-tokens.ts';
import { learnWeights } from '../../../plugins/bayes/engine/linear.ts';
import { reinforce } from '../../../plugins/bayes/engine/reinforce.ts';
import { runPasses, type PassName } from '../../../plugins/bayes/engine/passes.ts';
import { toTab } from '../../../plugins/bayes/engine/tab-file.ts';
import { message } from './fixtures.ts';

/** A filter that learned spam and ham of the fixtures, one of the ham in spam words, with its record and samples. */
function learned(from = 0) {
  const f = new BayesFilter();
  const record = new LearnedTokens();
  const samples = f.byteSamples();
  const learn = (raw: string, spam: boolean) => f.learn(raw, spam, { record, samples });
  for (let i = from; i < from + 20; i++) { learn(message({ spam: true, seed: i }), true); learn(message({ spam: false, seed: i }), false); }
  learn(message({ spam: true, seed: from + 100 }), false);
  learn(message({ spam: false, seed: from + 101 }), true);
  return { f, record, samples };
}

describe('bayes training passes', () => {
  it('give the dictionary each pass run on its own, reading the counts afresh, would give', () => {
    for (const background of [undefined, learned(50).f.dict]) {
      const byHand = learned();
      const r = reinforce(byHand.f, byHand.record, {}, background);
      learnWeights(byHand.f.dict, byHand.record, {}, background);
      byHand.f.dict.byteGrams = byHand.samples.fit({}, background?.byteGrams);
      const run = learned();
      const passes = runPasses(run.f, run.record, run.samples, { background });
      assert.ok(r.spam > 0 && r.ham > 0, 'both classes learned again, so the handed counts changed');
      assert.deepEqual({ ...passes.reinforced, seconds: 0 }, { ...r, seconds: 0 });
      assert.ok(toTab(run.f.dict).equals(toTab(byHand.f.dict)), 'the same counts, weights and byte model');
      assert.equal(passes.byteGrams?.messages, 42 + (background?.byteGrams?.messages ?? 0));
    }
  });

  it('leave out the passes set to false, and say after each one that ran', () => {
    const { f, record, samples } = learned();
    const seen: PassName[] = [];
    const passes = runPasses(f, record, samples, { reinforce: false, afterPass: (p) => seen.push(p) });
    assert.deepEqual(seen, ['linear', 'byteGrams']);
    assert.equal(passes.reinforced, undefined);
    assert.deepEqual([f.dict.nspam, f.dict.nham], [21, 21], 'nothing learned again');
    assert.ok(f.dict.hasWeights && f.dict.byteGrams);

    const bare = learned();
    const none = runPasses(bare.f, undefined, undefined, { afterPass: (p) => seen.push(p) });
    assert.deepEqual(none, {});
    assert.deepEqual(seen, ['linear', 'byteGrams'], 'without a record or samples no pass runs');
    assert.equal(bare.f.dict.hasWeights, false);
    assert.equal(bare.f.dict.byteGrams, undefined);
  });
});

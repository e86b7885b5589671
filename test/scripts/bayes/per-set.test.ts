// The parts the eval and the cross-validation use to measure a dictionary per recipient (a set of the corpus being
// one user's mailbox): grouping by set, the combined score a held-out message gets, and the weight's option.
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Score } from '../../../plugins/bayes/engine/classify.ts';
import { groupBySet, readWeight, scoredWithOwn } from '../../../scripts/bayes/per-set.ts';

const crossValidate = fileURLToPath(new URL('../../../scripts/bayes/cross-validate.ts', import.meta.url));
const score = (probability: number, logHam: number, logSpam: number): Score => ({ probability, used: 10, logHam, logSpam, top: [] });

describe('bayes per-set measuring parts', () => {
  it('groups messages by set, keeping their order within each set and the sets in order of first appearance', () => {
    const msgs = [{ set: 'enron2', n: 1 }, { set: 'enron1', n: 2 }, { set: 'enron2', n: 3 }, { set: 'spamassassin', n: 4 }, { set: 'enron1', n: 5 }];
    const sets = groupBySet(msgs);
    assert.deepEqual([...sets.keys()], ['enron2', 'enron1', 'spamassassin']);
    assert.deepEqual(sets.get('enron2')!.map((m) => m.n), [1, 3]);
    assert.deepEqual(sets.get('enron1')!.map((m) => m.n), [2, 5]);
    assert.deepEqual(sets.get('spamassassin')!.map((m) => m.n), [4]);
  });

  it('scores a message without a dictionary of its own by the shared one alone', () => {
    const shared = score(0.8, -0.5, -3);
    assert.deepEqual(scoredWithOwn(true, shared, undefined, 1), { spam: true, p: 0.8, tie: 2.5 });
  });

  it('takes the mean of the two logits, the own dictionary\'s at its weight, and of their tails for the ranking key', () => {
    const shared = score(0.5, -1, -1);
    const own = score(0.9, -0.1, -4);
    const full = scoredWithOwn(false, shared, own, 1);
    assert.equal(full.spam, false);
    assert.ok(Math.abs(full.p - 0.75) < 1e-12, `the mean of logit 0 and logit(0.9) gives 0.75, not ${full.p}`);
    assert.ok(Math.abs(full.tie! - 1.95) < 1e-12, `tails -0.55 and -2.5: key 1.95, not ${full.tie}`);
    const half = scoredWithOwn(false, shared, own, 0.5);
    assert.ok(half.p > 0.5 && half.p < full.p, `half the weight moves the probability less: ${half.p}`);
    assert.ok(Math.abs(half.tie! - 1.3) < 1e-12, `tails -0.7 and -2: key 1.3, not ${half.tie}`);
    const none = scoredWithOwn(false, shared, own, 0);
    assert.ok(Math.abs(none.p - 0.5) < 1e-12 && none.tie === 0, 'weight 0 leaves the shared score');
  });

  it('reads --per-set-weight as a number ≥ 0 and nothing else', () => {
    assert.equal(readWeight('1'), 1);
    assert.equal(readWeight('0.75'), 0.75);
    assert.equal(readWeight('.5'), 0.5);
    assert.equal(readWeight('0'), 0);
    assert.equal(readWeight('2e0'), 2);
    for (const bad of ['', ' ', '-1', 'abc', '1,5', 'Infinity', '1e400', 'NaN', '0x1']) assert.equal(readWeight(bad), undefined, bad);
  });

  it('refuses a bad weight, or a weight without --per-set, with its usage and exit code 64', () => {
    for (const args of [['--per-set', '--per-set-weight=-1'], ['--per-set', '--per-set-weight', 'heavy'], ['--per-set-weight', '0.5']]) {
      const r = spawnSync(process.execPath, [crossValidate, ...args, '--corpus', path.join(import.meta.dirname, 'no-such-corpus')], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, args[0] === '--per-set' ? /--per-set-weight must be a number ≥ 0/ : /--per-set-weight goes with --per-set/);
      assert.match(r.stderr, /usage: node scripts\/bayes\/cross-validate\.ts/);
    }
  });
});

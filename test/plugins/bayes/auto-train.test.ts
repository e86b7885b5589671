// Auto-training decisions: honeypot and ham addresses, the balance rule, certain verdicts.
import assert from 'node:assert/strict';
import { addressMatcher, allows, balanced, recipientLesson, scoreWithout, settled, verdictLesson } from '../../../plugins/bayes/auto-train.ts';
import { bandOf } from '../../../plugins/bayes/index.ts';
import { DEFAULT_BANDS } from '../../../plugins/bayes/config.ts';

const rules = { honeypots: ['trap@example.com', '@spamtrap.example.com'], hamAddresses: ['ham@example.com'] };

describe('bayes auto-training', () => {
  it('matches addresses exactly or by @domain, case-insensitively', () => {
    const m = addressMatcher(rules.honeypots);
    assert.equal(m('Trap@Example.com'), true);
    assert.equal(m('anyone@spamtrap.example.com'), true);
    assert.equal(m('bob@example.com'), false);
  });

  it('takes a tagged or needlessly quoted address as its mailbox, and nothing that only looks alike', () => {
    const m = addressMatcher(['trap@example.com', 'list+bayes@example.com']);
    for (const a of ['trap+x@example.com', 'TRAP+Promo+2@Example.COM', '"Trap"@example.com', 'list+bayes@example.com']) assert.equal(m(a), true, a);
    for (const a of ['trapper@example.com', 'bob+trap@example.com', '+trap@example.com', 'trap@example.com.evil', '"trap x"@example.com', 'list@example.com', 'list+other@example.com']) assert.equal(m(a), false, a);
    const dashes = addressMatcher(['trap@example.com'], '-+');
    assert.equal(dashes('trap-x@example.com'), true);
    assert.equal(addressMatcher(['trap@example.com'], '')('trap+x@example.com'), false, 'no delimiter, no tags');
  });

  it('totals the verdict without one plugin\'s findings as the verdict rounds, with no float\'s tail', () => {
    const f = (plugin: string, score: number) => ({ plugin, symbol: 'X', score });
    assert.equal(scoreWithout([f('test', -2), f('bayes', -0.3)], 'bayes'), -2);
    assert.equal(scoreWithout([f('a', 15.2), f('b', 0.1), f('bayes', 1.1)], 'bayes'), 15.3);
    assert.equal(scoreWithout([], 'bayes'), 0);
  });

  it('learns spam for a honeypot recipient and ham for a ham address; a honeypot wins over a ham address', () => {
    assert.deepEqual(recipientLesson(rules)(['bob@example.com', 'trap@example.com']), { spam: true, why: 'honeypot trap@example.com' });
    assert.deepEqual(recipientLesson(rules)(['ham@example.com']), { spam: false, why: 'ham address ham@example.com' });
    assert.deepEqual(recipientLesson(rules)(['ham@example.com', 'trap@example.com']), { spam: true, why: 'honeypot trap@example.com' });
    assert.equal(recipientLesson(rules)(['bob@example.com']), null);
  });

  it('applies the balance rule: spam only while ham ≥ spam, ham only while spam ≥ ham', () => {
    assert.equal(balanced(true, 5, 5, 0), true);
    assert.equal(balanced(true, 6, 5, 0), false);
    assert.equal(balanced(false, 5, 6, 0), false);
    assert.equal(balanced(true, 6, 5, 1), true);
    assert.equal(allows({ balance: true, slack: 0 }, true, { nspam: 10, nham: 3 }), false);
    assert.equal(allows({ balance: true, slack: 0 }, false, { nspam: 10, nham: 3 }), true);
    assert.equal(allows({ balance: false, slack: 0 }, true, { nspam: 10, nham: 3 }), true);
  });

  it('learns from verdicts only when they are certain', () => {
    assert.deepEqual(verdictLesson(20, 15, -2), { spam: true, why: 'verdict score 20' });
    assert.deepEqual(verdictLesson(-3, 15, -2), { spam: false, why: 'verdict score -3' });
    assert.equal(verdictLesson(4, 15, -2), null);
  });

  it('learns a message only once its verdict is settled: never a deferred one, which comes back', () => {
    assert.equal(settled('tempfail'), false);
    for (const action of ['accept', 'add_header', 'quarantine', 'reject'] as const) assert.equal(settled(action), true, action);
  });

  it('maps probabilities to bands', () => {
    assert.equal(bandOf(0.995, DEFAULT_BANDS)?.symbol, 'BAYES_SPAM_99');
    assert.equal(bandOf(0.95, DEFAULT_BANDS)?.symbol, 'BAYES_SPAM_90');
    assert.equal(bandOf(0.5, DEFAULT_BANDS)?.symbol, 'BAYES_UNSURE');
    assert.equal(bandOf(0.001, DEFAULT_BANDS)?.symbol, 'BAYES_HAM_99');
  });

  it('puts a probability exactly on a band\'s min in that band, whatever order the bands are listed in', () => {
    const unsorted = [...DEFAULT_BANDS].reverse();
    for (const bands of [DEFAULT_BANDS, unsorted]) {
      for (const b of DEFAULT_BANDS) assert.equal(bandOf(b.min, bands)?.symbol, b.symbol, String(b.min));
      assert.equal(bandOf(1, bands)?.symbol, 'BAYES_SPAM_99');
      assert.equal(bandOf(0.98999, bands)?.symbol, 'BAYES_SPAM_90');
    }
    // Without a band from 0, a probability below every band has none (and so no finding).
    assert.equal(bandOf(0.5, [{ min: 0.9, symbol: 'BAYES_HIGH', score: 3 }]), undefined);
  });
});

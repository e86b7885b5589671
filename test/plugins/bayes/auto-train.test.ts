// Auto-training decisions: honeypot and ham addresses, the balance rule, certain verdicts.
import assert from 'node:assert/strict';
import { addressMatcher, balanced, recipientLesson, verdictLesson } from '../../../plugins/bayes/auto-train.ts';
import { bandOf } from '../../../plugins/bayes/index.ts';
import { DEFAULT_BANDS } from '../../../plugins/bayes/config.ts';

const rules = { honeypots: ['trap@example.com', '@spamtrap.example.com'], hamAddresses: ['ham@example.com'], balance: true, balanceSlack: 0 };

describe('bayes auto-training', () => {
  it('matches addresses exactly or by @domain, case-insensitively', () => {
    const m = addressMatcher(rules.honeypots);
    assert.equal(m('Trap@Example.com'), true);
    assert.equal(m('anyone@spamtrap.example.com'), true);
    assert.equal(m('bob@example.com'), false);
  });

  it('learns spam for a honeypot recipient and ham for a ham address; a honeypot wins over a ham address', () => {
    assert.deepEqual(recipientLesson(['bob@example.com', 'trap@example.com'], rules, { nspam: 0, nham: 0 }), { spam: true, why: 'honeypot trap@example.com' });
    assert.deepEqual(recipientLesson(['ham@example.com'], rules, { nspam: 0, nham: 0 }), { spam: false, why: 'ham address ham@example.com' });
    assert.deepEqual(recipientLesson(['ham@example.com', 'trap@example.com'], rules, { nspam: 0, nham: 0 }), { spam: true, why: 'honeypot trap@example.com' });
    assert.equal(recipientLesson(['bob@example.com'], rules, { nspam: 0, nham: 0 }), null);
  });

  it('applies the balance rule: spam only while ham ≥ spam, ham only while spam ≥ ham', () => {
    assert.equal(balanced(true, 5, 5, 0), true);
    assert.equal(balanced(true, 6, 5, 0), false);
    assert.equal(balanced(false, 5, 6, 0), false);
    assert.equal(balanced(true, 6, 5, 1), true);
    const held = recipientLesson(['trap@example.com'], rules, { nspam: 10, nham: 3 });
    assert.ok(held && 'skip' in held && /balance rule/.test(held.skip));
    assert.deepEqual(recipientLesson(['trap@example.com'], { ...rules, balance: false }, { nspam: 10, nham: 3 }), { spam: true, why: 'honeypot trap@example.com' });
  });

  it('learns from verdicts only when they are certain', () => {
    assert.deepEqual(verdictLesson(20, 15, -2), { spam: true, why: 'verdict score 20' });
    assert.deepEqual(verdictLesson(-3, 15, -2), { spam: false, why: 'verdict score -3' });
    assert.equal(verdictLesson(4, 15, -2), null);
  });

  it('maps probabilities to bands', () => {
    assert.equal(bandOf(0.995, DEFAULT_BANDS)?.symbol, 'BAYES_SPAM_99');
    assert.equal(bandOf(0.95, DEFAULT_BANDS)?.symbol, 'BAYES_SPAM_90');
    assert.equal(bandOf(0.5, DEFAULT_BANDS)?.symbol, 'BAYES_UNSURE');
    assert.equal(bandOf(0.001, DEFAULT_BANDS)?.symbol, 'BAYES_HAM_99');
  });
});

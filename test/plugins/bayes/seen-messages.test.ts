// Training learns each message once: a copy (same class, same tokens) is passed over and counted.
import assert from 'node:assert/strict';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';
import { LearnedTokens } from '../../../plugins/bayes/engine/learned-tokens.ts';
import { SeenMessages } from '../../../plugins/bayes/engine/seen-messages.ts';
import { toTab } from '../../../plugins/bayes/engine/tab-file.ts';
import { message } from './fixtures.ts';

describe('bayes seen messages', () => {
  it('passes over a copy of a message of the same class, learning nothing from it', () => {
    const f = new BayesFilter();
    const seen = new SeenMessages();
    const record = new LearnedTokens();
    const samples = f.byteSamples();
    const spam = message({ spam: true, seed: 1 });
    assert.equal(f.learn(spam, true, { seen, record, samples }), true);
    assert.equal(f.learn(message({ spam: false, seed: 1 }), false, { seen, record, samples }), true);
    const before = toTab(f.dict);
    // The ignored headers are no tokens, so a copy that gained a spam report is still a copy.
    assert.equal(f.learn(spam.replace('MIME-Version', 'X-Spam-Status: Yes, score=9\r\nMIME-Version'), true, { seen, record, samples }), false);
    assert.ok(toTab(f.dict).equals(before), 'counts and message totals unchanged');
    assert.equal(samples.fit({}).messages, 2, 'the byte model does not get the copy either');
    assert.deepEqual(seen.duplicates, { spam: 1, ham: 0 });
  });

  it('learns a copy labelled the other way, a message that differs by one word, and every copy without `seen`', () => {
    const f = new BayesFilter();
    const seen = new SeenMessages();
    const spam = message({ spam: true, seed: 2 });
    assert.equal(f.learn(spam, true, { seen }), true);
    assert.equal(f.learn(spam, false, { seen }), true, 'a disagreement of labels is kept');
    assert.equal(f.learn(spam.replace('click', 'tap'), true, { seen }), true);
    assert.deepEqual(seen.duplicates, { spam: 0, ham: 0 });
    const plain = new BayesFilter();
    plain.learn(spam, true);
    assert.equal(plain.learn(spam, true), true);
    assert.equal(plain.dict.nspam, 2);
  });
});

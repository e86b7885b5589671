// Pure logic: which outcomes a hook can answer (outcomeProblem), and the reply each one that can gets (replyFor).
import assert from 'node:assert/strict';
import { outcome, outcomeProblem, type Outcome } from '../../../core/hooks/outcome.ts';
import { replyFor } from '../../../core/smtp/reply.ts';
import type { HookName } from '../../../core/hooks/hook-names.ts';

describe('outcomeProblem: the one check of an outcome\'s action, codes and text', () => {
  it('takes every builder\'s result in the hooks it is made for', () => {
    const fine: Array<[HookName, Outcome]> = [
      ['mailFrom', outcome.continue()],
      ['rcptTo', outcome.accept()],
      ['noop', { action: 'accept', code: 334, text: 'go on' }],
      ['quit', { action: 'accept', code: 221, text: 'bye' }],
      ['helo', outcome.reject('no', { code: 554, enhanced: '5.7.1' })],
      ['rcptTo', outcome.tempfail(['one', 'two'], { code: 451, enhanced: '4.7.1', countsOnceAs: 'greylisted' })],
      ['data', outcome.disconnect('bye')],
      ['data', outcome.disconnect('later', { code: 450, enhanced: '4.7.1' })],
      ['data', outcome.disconnect('never', { code: 550, enhanced: '5.7.1' })],
      ['data', outcome.quarantine('virus', { recipientMayRelease: false })],
      ['data', outcome.reject('5.7.9 own enhanced code in the text', { reason: 'rule x' })],
    ];
    for (const [hook, o] of fine) assert.equal(outcomeProblem(hook, o), undefined, JSON.stringify(o));
  });

  it('says what is wrong with one that does not fit', () => {
    const cases: Array<[HookName, unknown, RegExp]> = [
      ['data', { action: 'disconnect', code: 250 }, /code 250 does not fit disconnect \(4xx or 5xx\)/],
      ['data', { action: 'reject', code: 450 }, /code 450 does not fit reject \(5xx\)/],
      ['data', { action: 'tempfail', code: 550 }, /code 550 does not fit tempfail \(4xx\)/],
      ['noop', { action: 'accept', code: 550 }, /code 550 does not fit accept \(2xx or 3xx\)/],
      ['data', { action: 'quarantine', code: 550 }, /does not fit quarantine/],
      ['rcptTo', outcome.quarantine('x'), /quarantine is for the data hook only, not rcptTo/],
      ['noop', outcome.quarantine('x'), /not noop/],
      ['data', { action: 'reject', code: 599 }, /code 599 is not an SMTP reply code/],
      ['data', { action: 'reject', code: 600 }, /not an SMTP reply code/],
      ['data', { action: 'reject', code: 550.5 }, /not an SMTP reply code/],
      ['data', { action: 'reject', code: '550' }, /code "550" is not an SMTP reply code/],
      ['data', { action: 'reject', enhanced: '4.7.1' }, /enhanced 4\.7\.1 does not fit reject's 5xx reply/],
      ['data', { action: 'disconnect', enhanced: '5.7.1' }, /does not fit disconnect's 4xx reply/],
      ['data', { action: 'reject', code: 550, enhanced: '5.7' }, /enhanced "5\.7" is not an enhanced status code/],
      ['noop', { action: 'accept', code: 334, enhanced: '2.0.0' }, /does not fit the reply code 334/],
      ['data', { action: 'reject', text: '4.7.1 later' }, /text starts with the enhanced code 4\.7\.1, which does not fit a 5xx reply/],
      ['data', { action: 'reject', text: 42 }, /text 42 is not a string or a list of strings/],
      ['data', { action: 'reject', text: [] }, /text is an empty list/],
      ['data', { action: 'reject', text: ['a', 7] }, /line that is not a string: 7/],
      ['data', { action: 'reject', reason: { a: 1 } }, /reason an object is not a string/],
      ['rcptTo', { action: 'tempfail', countsOnceAs: 3 }, /countsOnceAs 3 is not a string/],
      ['data', { action: 'quarantine', recipientMayRelease: 'no' }, /recipientMayRelease "no" is not true or false/],
      ['data', { action: 'refuse' }, /not an outcome: action "refuse" is none of continue, accept/],
      ['data', { action: 'toString' }, /not an outcome/],
      ['data', {}, /not an outcome: action undefined/],
      ['data', null, /not an outcome: null/],
      ['data', [outcome.reject('x')], /not an outcome: a list/],
    ];
    for (const [hook, v, why] of cases) assert.match(String(outcomeProblem(hook, v)), why, JSON.stringify(v));
  });

  it('names a long value by its first characters only', () => {
    const why = outcomeProblem('data', { action: 'reject', code: 'y'.repeat(10_000) })!;
    assert.ok(why.length < 100, why);
  });

  it('reads nothing else of a continue', () => {
    assert.equal(outcomeProblem('data', { action: 'continue', code: 'whatever', text: 42 }), undefined);
  });
});

describe('replyFor: the reply of a refusing outcome that fits', () => {
  it('takes the outcome\'s codes, else the phase\'s', () => {
    assert.deepEqual(replyFor('rcptTo', outcome.reject('no')), { code: 550, text: '5.7.1 no' });
    assert.deepEqual(replyFor('dataStart', outcome.reject('no')), { code: 554, text: '5.7.1 no' });
    assert.deepEqual(replyFor('data', outcome.tempfail('later')), { code: 451, text: '4.7.0 later' });
    assert.deepEqual(replyFor('noop', outcome.tempfail('later', { code: 452, enhanced: '4.3.1' })), { code: 452, text: '4.3.1 later' });
    assert.deepEqual(replyFor('mailFrom', outcome.reject(['a', '5.1.8 b'], { code: 553 })), { code: 553, text: ['5.7.1 a', '5.1.8 b'] });
  });

  it('answers a disconnect 421 unless it refuses for good', () => {
    assert.deepEqual(replyFor('data', outcome.disconnect('bye')), { code: 421, text: '4.7.0 bye' });
    assert.deepEqual(replyFor('data', outcome.disconnect('later', { code: 450, enhanced: '4.7.1' })), { code: 421, text: '4.7.1 later' });
    assert.deepEqual(replyFor('rcptTo', outcome.disconnect('never', { code: 550 })), { code: 550, text: '5.7.0 never' });
  });

  it('writes a control character as the space the client sees', () => {
    assert.deepEqual(replyFor('data', outcome.reject('one\r\n250 two')), { code: 550, text: '5.7.1 one  250 two' });
  });
});

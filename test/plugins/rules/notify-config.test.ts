// The notify action's pure parts: what check-config says of a bad notify (each mistake named with its rule), how a
// value quoted into a notice is made safe, how templates are filled, and the per-rule rate limit over a hand-moved clock.
import assert from 'node:assert/strict';
import type { Issue } from '../../../core/index.ts';
import { configSchema } from '../../../plugins/rules/config.ts';
import { fillTemplate, noticeValues, quoted } from '../../../plugins/rules/notice-mail.ts';
import { NoticeRate } from '../../../plugins/rules/notice-rate.ts';
import { compileRuleSet } from '../../../plugins/rules/rule-set.ts';

const issuesOf = (options: unknown) => {
  const issues: Issue[] = [];
  configSchema.parse(options, 'plugins[3]', issues);
  return issues.map((i) => `${i.path}: ${i.message}`);
};

describe('plugins/rules notify: configuration', () => {
  it('takes an address, a list with `recipients`, or a mapping with templates of the known fields', () => {
    assert.deepEqual(issuesOf({ rules: [
      { name: 'one', actions: [{ notify: 'security@example.com' }] },
      { name: 'list', actions: [{ notify: ['security@example.com', 'recipients'] }, 'quarantine'] },
      { name: 'full', actions: [{ notify: { to: 'sec@example.com', subject: '{rule}: {subject}', body: '{qid} {sender} {recipients}\n{action} {score} {not a field}' } }, 'reject'] },
    ] }), []);
    const issues: Issue[] = [];
    const set = compileRuleSet({ rules: [{ name: 'r', actions: [{ notify: ['A@example.com', 'a@example.com', 'recipients'] }] }] as never, lists: {} }, '', issues);
    assert.deepEqual(set.rules[0].actions.notify?.to, ['a@example.com']);
    assert.equal(set.rules[0].actions.notify?.toRecipients, true);
    assert.match(set.rules[0].actions.notify!.body, /Queue ID: +\{qid\}\r\n/);
  });

  it('names the rule and the key of each mistake', () => {
    assert.deepEqual(issuesOf({ rules: [
      { name: 'block-exe', actions: [{ notify: { to: 'sec@example.com', body: 'Hello {user}, see {qid}' } }] },
      { name: 'bad-address', actions: [{ notify: ['sec@example.com', 'two words@example.com', 'nodomain'] }] },
      { name: 'no-to', actions: [{ notify: { subject: 'x' } }] },
      { name: 'unknown-key', actions: [{ notify: { to: 'sec@example.com', cc: 'boss@example.com' } }] },
      { name: 'two-lines', actions: [{ notify: { to: 'sec@example.com', subject: 'one\ntwo' } }] },
      { name: 'deferred', actions: [{ notify: 'sec@example.com' }, 'tempfail'] },
      { name: 'not-text', actions: [{ notify: 5 }] },
    ] }), [
      'plugins[3].rules[0] (name "block-exe").actions[0].notify.body: names an unknown field {user} (known: {rule}, {qid}, {sender}, {recipients}, {subject}, {action}, {score})',
      'plugins[3].rules[1] (name "bad-address").actions[0].notify[1]: not an address',
      'plugins[3].rules[1] (name "bad-address").actions[0].notify[2]: a recipient needs a domain',
      'plugins[3].rules[2] (name "no-to").actions[0].notify.to: is required: the address (or list) that gets the notice',
      'plugins[3].rules[3] (name "unknown-key").actions[0].notify.cc: is not a known key (known: to, subject, body)',
      'plugins[3].rules[4] (name "two-lines").actions[0].notify.subject: expected one line',
      'plugins[3].rules[5] (name "deferred").actions: notify with tempfail sends nothing: a notice goes once the message is delivered, held, refused or dropped, and a deferred one is judged again on its retry',
      'plugins[3].rules[6] (name "not-text").actions[0].notify: expected an address, a list of addresses, or a mapping with to, subject and body',
    ]);
  });

  it('the rate limit keys are checked', () => {
    assert.deepEqual(issuesOf({ notify_limit: 5, notify_window: '30s' }), []);
    assert.equal(issuesOf({ notify_limit: 0 }).length, 1);
    assert.equal(issuesOf({ notify_window: '10ms' }).length, 1);
  });
});

describe('plugins/rules notify: quoted values', () => {
  it('one line, without controls or bidi and zero-width marks, cut to 200 characters', () => {
    assert.equal(quoted('Rechnung \u202Eexe.pdf\u202C\r\nBcc: x@evil.example\u0000\u200B!'), 'Rechnung exe.pdf Bcc: x@evil.example !');
    assert.equal(quoted('\u2067isolated\u2069\u061C \t tabs'), 'isolated tabs');
    const cut = quoted('€'.repeat(300));
    assert.equal([...cut].length, 200);
    assert.ok(cut.endsWith('€…'));
  });

  it('fills the fields; the null sender is <>, many recipients are counted, the score is rounded', () => {
    const values = noticeValues({
      rule: 'r', qid: 'Q1', sender: '', recipients: Array.from({ length: 13 }, (_, i) => `u${i}@xn--bcher-kva.example`),
      subject: 'Hi\u202E', action: 'deliver (score below every threshold)', score: 4.56789,
    });
    assert.equal(values.sender, '<>');
    assert.match(values.recipients, /^u0@bücher\.example, .*, u9@bücher\.example and 3 more$/);
    assert.equal(values.score, '4.57');
    assert.equal(fillTemplate('{rule}/{qid}: {subject} {{score}} {unknown}', values), 'r/Q1: Hi {4.57} {unknown}');
  });
});

describe('plugins/rules notify: rate limit', () => {
  it('lets `limit` notices of a rule through per window, counts the rest, and tells each window\'s count once', () => {
    let now = 1_000_000;
    const told: Array<[string, number]> = [];
    const rate = new NoticeRate(2, 60_000, (rule, n) => told.push([rule, n]), () => now);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => rate.take('a')), [true, true, false, false, false]);
    // Another rule has its own allowance.
    assert.equal(rate.take('b'), true);
    assert.deepEqual(told, []);
    now += 60_000;
    // A new window: the last one's count is told first, once.
    assert.equal(rate.take('a'), true);
    assert.deepEqual(told, [['a', 3]]);
    assert.equal(rate.take('a'), true);
    assert.equal(rate.take('a'), false);
    rate.close();
    assert.deepEqual(told, [['a', 3], ['a', 1]]);
    rate.close();
    assert.equal(told.length, 2);
  });
});

// Unit tests over hand-made facts: a discard of some recipients lets the rules go on for the others; the attachment
// criterion's detected type, size and archive entries; the warning of a forgeable whitelist ahead of attachment rules.
import assert from 'node:assert/strict';
import type { Issue } from '../../../core/index.ts';
import { compileRuleSet, type RuleSet } from '../../../plugins/rules/rule-set.ts';
import { runRules, type RunEffects } from '../../../plugins/rules/evaluate.ts';
import { whitelistOrderWarnings } from '../../../plugins/rules/whitelist-order.ts';
import type { AttachmentFacts, Facts } from '../../../plugins/rules/facts.ts';

function facts(over: Partial<Facts> = {}): Facts {
  return {
    mailFrom: 'joe@sender.example', recipients: ['trap@corp.example', 'ann@corp.example', 'bob@corp.example'], ip: '192.0.2.10',
    authenticated: false, relayNetwork: false, isLocalDomain: (d) => d === 'corp.example', headers: [], subject: 'hello', body: '', bodyTruncated: false, attachments: [],
    size: 5000, mimeDepth: 1, findings: [], now: new Date('2026-11-23T10:30:00Z'), ...over,
  };
}

function compile(rules: unknown[]): RuleSet {
  const issues: Issue[] = [];
  const set = compileRuleSet({ rules: rules as never, lists: {} }, '', issues);
  assert.deepEqual(issues, []);
  return set;
}

const quiet: RunEffects = { addFinding: () => undefined, addRecipient: () => undefined, matched: () => undefined, skipped: () => undefined };
const run = (set: RuleSet, f: Facts, fx: RunEffects = quiet) => runRules(set.rules, { facts: f, regex: new Map(), lists: new Map() }, fx);

describe('plugins/rules: a discard of some recipients', () => {
  it('drops them and judges the others with the rules after it; its other actions are not applied', () => {
    const set = compile([
      { name: 'trap', when: { to: { address: 'trap@corp.example' } }, actions: [{ score: 9 }, { add_header: { name: 'X-Trap', value: 'y' } }, 'discard'] },
      { name: 'sees-trap', when: { to: 'trap@*' }, actions: [{ add_header: { name: 'X-Seen', value: 'y' } }] },
      { name: 'bob', when: { to: { address: 'bob@corp.example' } }, actions: ['discard'] },
      { name: 'exe', when: { attachment: { name: '*.exe' } }, actions: [{ quarantine: 'exe' }] },
    ]);
    const scores: string[] = [];
    const r = run(set, facts({ attachments: [{ names: ['setup.exe'], types: [], detected: [], size: 10 }] }), { ...quiet, addFinding: (s) => { scores.push(s); } });
    assert.deepEqual(r.discarded.map((d) => [d.address, d.rule.name]), [['trap@corp.example', 'trap'], ['bob@corp.example', 'bob']]);
    assert.deepEqual(r.final?.action, { kind: 'quarantine', text: 'exe' });
    assert.deepEqual(r.headers.added, []);
    assert.deepEqual(scores, []);
    assert.deepEqual(r.matched, ['trap', 'bob', 'exe']);
  });

  it('a later message-wide discard drops the recipients still there; a discard holding for all is final at once', () => {
    const set = compile([
      { name: 'trap', when: { to: { address: 'trap@corp.example' } }, actions: ['discard'] },
      { name: 'lottery', when: { subject: { contains: 'hello' } }, actions: ['discard'] },
    ]);
    const r = run(set, facts());
    assert.deepEqual(r.final?.recipients, ['ann@corp.example', 'bob@corp.example']);
    assert.equal(r.final?.rule.name, 'lottery');
    const all = run(set, facts({ recipients: ['trap@corp.example'] }));
    assert.deepEqual([all.final?.rule.name, all.final?.recipients, all.discarded], ['trap', ['trap@corp.example'], []]);
  });
});

describe('plugins/rules: the attachment criterion on bytes, archive entries and size', () => {
  const matches = (when: unknown, attachments: AttachmentFacts[]) => compile([{ name: 'r', when, actions: [{ score: 1 }] }]).rules[0].when({ facts: facts({ attachments }), regex: new Map(), lists: new Map() });
  const pe = { names: ['report.pdf'], types: ['application/pdf'], detected: ['application/x-dosexec'], size: 2_000_000 };

  it('type matches the declared or the detected type; detected_type only the detected one; both for a mismatch', () => {
    assert.equal(matches({ attachment: { type: 'application/x-dosexec' } }, [pe]), true);
    assert.equal(matches({ attachment: { type: 'application/pdf' } }, [pe]), true);
    assert.equal(matches({ attachment: { detected_type: 'application/pdf' } }, [pe]), false);
    assert.equal(matches({ attachment: { type: 'application/pdf', detected_type: 'application/x-*' } }, [pe]), true);
    assert.equal(matches({ attachment: { detected_type: '*' } }, [{ names: ['a.txt'], types: ['text/plain'], detected: [], size: 1 }]), false);
  });

  it('size is the decoded size, over and under as for the message', () => {
    assert.equal(matches({ attachment: { size: { over: '1MB' } } }, [pe]), true);
    assert.equal(matches({ attachment: { size: { under: '1MB' } } }, [pe]), false);
    assert.equal(matches({ attachment: { name: '*.pdf', size: { over: '1MB', under: '3MB' } } }, [pe]), true);
  });

  it('refuses unknown keys and unreadable sizes at load, by key path', () => {
    const issues: Issue[] = [];
    compileRuleSet({ rules: [
      { name: 'a', when: { attachment: { kind: 'x' } }, actions: ['reject'] },
      { name: 'b', when: { attachment: { size: { over: 'lots' } } }, actions: ['reject'] },
      { name: 'c', when: { attachment: { size: { over: '5MB', under: '1MB' } } }, actions: ['reject'] },
    ] as never, lists: {} }, 'plugins[1]', issues);
    assert.deepEqual(issues.map((i) => i.path), [
      'plugins[1].rules[0] (name "a").when.attachment', 'plugins[1].rules[1] (name "b").when.attachment.size.over', 'plugins[1].rules[2] (name "c").when.attachment.size',
    ]);
  });
});

describe('plugins/rules: a whitelist on a forgeable sender ahead of attachment rules', () => {
  const EXE = { name: 'exe', when: { attachment: { name: '*.exe' } }, actions: ['reject'] };
  const warnings = (...rules: unknown[]) => whitelistOrderWarnings(compile(rules), 'plugins[3]');

  it('warns of stop or accept on the envelope sender or a From-type header, with only other facts beside it', () => {
    for (const when of [
      { from: { domain: 'partner.example' } },
      { header: { name: 'From', contains: '@partner.example' } },
      { from: '*@partner.example', subject: 'invoice' },
      { any: [{ client_ip: '10.0.0.0/8' }, { from: '*@partner.example' }] },
    ]) {
      const got = warnings({ name: 'partner', when, actions: [{ score: -10 }, 'stop'] }, EXE);
      assert.equal(got.length, 1, JSON.stringify(when));
      assert.match(got[0], /^plugins\[3\]\.rules\[0\] \(name "partner"\): its stop rests on the sender a client writes .* ends the rules before exe, which refuses attachments/);
    }
    assert.match(warnings({ name: 'vip', when: { from: 'boss@*' }, actions: ['accept'] }, EXE)[0], /its accept rests on/);
  });

  it('says nothing with a fact a client cannot forge beside it, after the attachment rules, without stop, or without such rules', () => {
    const quietCases: unknown[][] = [
      [{ name: 'p', when: { from: '*@partner.example', client_ip: '198.51.100.0/24' }, actions: ['stop'] }, EXE],
      [{ name: 'p', when: { all: [{ from: '*@partner.example' }, { symbol: 'DMARC_PASS' }] }, actions: ['accept'] }, EXE],
      [{ name: 'p', when: { from: '*@partner.example', not: { symbol: 'SPF_FAIL' } }, actions: ['stop'] }, EXE],
      [{ name: 'p', when: { from: '*@partner.example', authenticated: true }, actions: ['stop'] }, EXE],
      [EXE, { name: 'p', when: { from: '*@partner.example' }, actions: ['stop'] }],
      [{ name: 'p', when: { from: '*@partner.example' }, actions: [{ score: -10 }] }, EXE],
      [{ name: 'p', when: { header: { name: 'Subject', contains: 'x' } }, actions: ['stop'] }, EXE],
      [{ name: 'p', when: { from: '*@partner.example' }, actions: ['stop'] }, { name: 'tag', when: { attachment: { name: '*.exe' } }, actions: [{ tag_subject: '[EXE]' }] }],
    ];
    for (const rules of quietCases) assert.deepEqual(warnings(...rules), [], JSON.stringify(rules));
  });

  it('one warning per whitelist, naming at most three of the rules it skips', () => {
    const blocks = ['a', 'b', 'c', 'd', 'e'].map((n) => ({ name: n, when: { attachment: { type: 'application/x-dosexec' } }, actions: ['quarantine'] }));
    const got = warnings({ name: 'p', when: { from: '*@partner.example' }, actions: ['stop'] }, ...blocks);
    assert.equal(got.length, 1);
    assert.match(got[0], /before a, b, c and 2 more, which refuse attachments/);
  });
});

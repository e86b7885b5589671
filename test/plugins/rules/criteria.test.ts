// Unit tests of the rule logic over hand-made facts: criteria, all/any/not with an unknown answer, actions, and the
// validation errors check-config prints.
import assert from 'node:assert/strict';
import type { Finding, Issue } from '../../../core/index.ts';
import { compileRuleSet, type RuleSet } from '../../../plugins/rules/rule-set.ts';
import { configSchema } from '../../../plugins/rules/config.ts';
import { runRules } from '../../../plugins/rules/evaluate.ts';
import { globMatch } from '../../../plugins/rules/glob.ts';
import { parseList, type RuleList } from '../../../plugins/rules/lists.ts';
import type { Facts } from '../../../plugins/rules/facts.ts';
import type { RegexResults } from '../../../plugins/rules/regex-thread.ts';

function facts(over: Partial<Facts> = {}): Facts {
  return {
    mailFrom: 'joe@sender.example', recipients: ['ann@example.com', 'bob@sub.example.com'], ip: '192.0.2.10', authenticated: false,
    relayNetwork: false, isLocalDomain: (d) => d === 'example.com', headers: [{ name: 'Subject', value: 'Invoice 42' }, { name: 'X-Mailer', value: 'BulkBlaster 3' }],
    subject: 'Invoice 42', body: 'Please pay now', bodyTruncated: false, attachments: [{ names: ['invoice.PDF.exe'], types: ['application/x-msdownload'], detected: ['application/x-dosexec'], size: 120_000 }],
    size: 5000, mimeDepth: 1, findings: [], now: new Date('2026-11-23T10:30:00Z'), ...over,
  };
}

function compile(rules: unknown[], lists: Record<string, string> = {}): RuleSet {
  const issues: Issue[] = [];
  const set = compileRuleSet({ rules: rules as never, lists }, '', issues);
  assert.deepEqual(issues, []);
  return set;
}

/** Regex answers as the thread would give them, computed here on the main thread (these patterns are harmless). */
function answers(set: RuleSet, f: Facts, unknown: number[] = []): RegexResults {
  const out: RegexResults = new Map();
  for (const r of set.regexes) if (!unknown.includes(r.id)) out.set(r.id, r.inputs(f).some((s) => new RegExp(r.source, r.flags).test(s)));
  return out;
}

function matches(when: unknown, f: Facts = facts(), opts: { lists?: Map<string, RuleList>; unknown?: number[]; timeZone?: string } = {}) {
  const set = compile([{ name: 'r', when, actions: [{ score: 1 }] }], Object.fromEntries([...(opts.lists ?? new Map()).keys()].map((k) => [k, 'x'])));
  const rule = set.rules[0];
  return rule.when({ facts: f, regex: answers(set, f, opts.unknown), lists: opts.lists ?? new Map(), timeZone: opts.timeZone });
}

describe('plugins/rules criteria', () => {
  it('envelope: sender and recipients by glob, address, domain (with subdomains), regex, list; <> is the null sender', () => {
    assert.equal(matches({ from: '*@SENDER.example' }), true);
    assert.equal(matches({ from: { address: 'JOE@sender.example' } }), true);
    assert.equal(matches({ to: { domain: 'example.com' } }), true);
    assert.equal(matches({ to: { domain: 'sub2.example.com' } }), false);
    assert.equal(matches({ to: { domain: '.example.com' } }, facts({ recipients: ['x@a.sub.example.com'] })), true);
    // `.example.com` is the domain and its subdomains, as the README says: the domain itself too.
    assert.equal(matches({ to: { domain: '.example.com' } }, facts({ recipients: ['x@example.com'] })), true);
    assert.equal(matches({ from: { regex: '^joe@' } }), true);
    assert.equal(matches({ from: '<>' }), false);
    assert.equal(matches({ from: '<>' }, facts({ mailFrom: '' })), true);
    const lists = new Map<string, RuleList>([['vip', { kind: 'address', entries: parseList('# partners\nboss@corp.example\n@partner.example\n.trusted.example\n') }]]);
    assert.equal(matches({ from: { list: 'vip' } }, facts({ mailFrom: 'Boss@corp.example' }), { lists }), true);
    assert.equal(matches({ from: { list: 'vip' } }, facts({ mailFrom: 'x@partner.example' }), { lists }), true);
    assert.equal(matches({ from: { list: 'vip' } }, facts({ mailFrom: 'x@mx.trusted.example' }), { lists }), true);
    assert.equal(matches({ from: { list: 'vip' } }, facts({ mailFrom: 'x@trusted.example' }), { lists }), true);
    assert.equal(matches({ from: { list: 'vip' } }, facts({ mailFrom: 'x@corp.example' }), { lists }), false);
  });

  it('client: IP/CIDR, authenticated, relay network', () => {
    assert.equal(matches({ client_ip: ['198.51.100.0/24', '192.0.2.0/28'] }), true);
    assert.equal(matches({ client_ip: '2001:db8::/32' }), false);
    assert.equal(matches({ authenticated: false, relay_network: false }), true);
    assert.equal(matches({ authenticated: true }), false);
  });

  it('headers: a named field or any field, regex or contains on the decoded value, exists', () => {
    assert.equal(matches({ header: { name: 'x-mailer', regex: '^bulkblaster' } }), true);
    assert.equal(matches({ header: { name: 'X-Mailer', regex: '^bulkblaster', case_sensitive: true } }), false);
    assert.equal(matches({ header: { regex: 'invoice' } }), true);
    assert.equal(matches({ header: { name: 'Subject', contains: 'INVOICE' } }), true);
    assert.equal(matches({ header: { name: 'X-Spam-Flag', exists: false } }), true);
    assert.equal(matches({ header: { name: 'X-Mailer', exists: true } }), true);
  });

  it('subject, body, attachments by name and type, size', () => {
    assert.equal(matches({ subject: 'invoice \\d+' }), true);
    assert.equal(matches({ body: { contains: 'pay now' } }), true);
    assert.equal(matches({ body: 'lottery' }), false);
    assert.equal(matches({ attachment: { name: ['*.exe', '*.scr'] } }), true);
    assert.equal(matches({ attachment: { name: '*.pdf' } }), false);
    assert.equal(matches({ attachment: { name: '*.exe', type: 'application/zip' } }), false);
    assert.equal(matches({ attachment: { type: 'application/x-ms*' } }), true);
    assert.equal(matches({ size: { over: '4KB', under: '1MB' } }), true);
    assert.equal(matches({ size: { over: 6000 } }), false);
  });

  it('findings: the total score so far and symbols by glob', () => {
    const findings: Finding[] = [{ symbol: 'BAYES_SPAM_95', score: 4, plugin: 'bayes' }, { symbol: 'SPF_FAIL', score: 2.5, plugin: 'spf' }];
    assert.equal(matches({ score: { at_least: 6.5 } }, facts({ findings })), true);
    assert.equal(matches({ score: { below: 6.5 } }, facts({ findings })), false);
    assert.equal(matches({ symbol: 'BAYES_SPAM_9*' }, facts({ findings })), true);
    assert.equal(matches({ symbol: ['CLAM_*', 'RBL_*'] }, facts({ findings })), false);
  });

  it('time of day and weekday in a given time zone, ranges past midnight', () => {
    // 2026-11-23 is a Monday; 10:30 UTC is 11:30 in Berlin and 05:30 in New York.
    assert.equal(matches({ time: '08:00-17:00', weekday: 'mon-fri' }, facts(), { timeZone: 'Europe/Berlin' }), true);
    assert.equal(matches({ time: '08:00-17:00' }, facts(), { timeZone: 'America/New_York' }), false);
    assert.equal(matches({ time: '22:00-06:00' }, facts(), { timeZone: 'America/New_York' }), true);
    assert.equal(matches({ weekday: ['sat-sun'] }, facts(), { timeZone: 'UTC' }), false);
    assert.equal(matches({ weekday: 'sun-mon' }, facts(), { timeZone: 'UTC' }), true);
  });

  it('all/any/not combine, and an unfinished regex makes the answer unknown unless the rest decides', () => {
    const when = { any: [{ subject: 'nothing-here' }, { not: { from: '*@sender.example' } }] };
    assert.equal(matches(when), false);
    assert.equal(matches({ all: [{ subject: 'invoice' }, { authenticated: false }] }), true);
    assert.equal(matches({ subject: 'invoice' }, facts(), { unknown: [1] }), undefined);
    assert.equal(matches({ not: { subject: 'invoice' } }, facts(), { unknown: [1] }), undefined);
    // any: a definite true elsewhere decides; all: a definite false elsewhere decides.
    assert.equal(matches({ any: [{ subject: 'x' }, { authenticated: false }] }, facts(), { unknown: [1] }), true);
    assert.equal(matches({ all: [{ subject: 'x' }, { authenticated: true }] }, facts(), { unknown: [1] }), false);
  });

  it('runs rules in order: scores as RULE_<NAME> findings seen by later rules, stop, and the first final action ends the run', () => {
    const set = compile([
      { name: 'partner-whitelist', when: { from: '*@sender.example' }, actions: [{ score: -3 }, { add_header: { name: 'X-Partner', value: 'yes' } }] },
      { name: 'low', when: { score: { below: 0 } }, actions: [{ tag_subject: '[partner]' }, { remove_header: 'X-Mailer' }] },
      { name: 'off', enabled: false, when: { authenticated: false }, actions: ['reject'] },
      { name: 'exe', when: { attachment: { name: '*.exe' } }, actions: [{ quarantine: 'executable' }] },
      { name: 'never-reached', actions: ['discard'] },
    ]);
    const findings: Finding[] = [];
    const log: string[] = [];
    const f = facts({ findings });
    const fx = {
      addFinding: (symbol: string, score: number, detail?: string) => { findings.push({ symbol, score, detail, plugin: 'rules' }); },
      addRecipient: (a: string) => { log.push(`copy ${a}`); },
      matched: (rule: { name: string }) => { log.push(`matched ${rule.name}`); },
      skipped: (rule: { name: string }) => { log.push(`skipped ${rule.name}`); },
    };
    const r = runRules(set.rules, { facts: f, regex: answers(set, f), lists: new Map() }, fx);
    assert.deepEqual(findings.map((x) => [x.symbol, x.score]), [['RULE_PARTNER_WHITELIST', -3]]);
    assert.deepEqual(log, ['matched partner-whitelist', 'matched low', 'matched exe']);
    assert.deepEqual(r.headers, { removed: ['x-mailer'], added: [['X-Partner', 'yes']] });
    assert.deepEqual(r.subjectTags, ['[partner]']);
    assert.deepEqual(r.final?.action, { kind: 'quarantine', text: 'executable' });
    assert.equal(r.final?.rule.name, 'exe');
  });

  it('copy_to asks the core for each copy, with the rule as the reason, and later rules still run', () => {
    const set = compile([
      { name: 'archive', when: { to: { domain: 'example.com' } }, actions: [{ copy_to: ['arch@archive.example', 'ARCH@archive.example', 'legal@archive.example'] }] },
      { name: 'not-matching', when: { from: 'nobody@*' }, actions: [{ copy_to: 'never@archive.example' }] },
      { name: 'audit', actions: [{ copy_to: 'audit@archive.example' }, { score: 1 }] },
    ]);
    const copies: string[] = [];
    const f = facts();
    // Built apart from the call, so that it also type-checks against effects without addRecipient.
    const fx = {
      addFinding: () => undefined, matched: () => undefined, skipped: () => undefined,
      addRecipient: (address: string, reason: string) => { copies.push(`${address} (${reason})`); },
    };
    const r = runRules(set.rules, { facts: f, regex: answers(set, f), lists: new Map() }, fx);
    assert.deepEqual(copies, ['arch@archive.example (rule archive)', 'legal@archive.example (rule archive)', 'audit@archive.example (rule audit)']);
    assert.deepEqual(r.matched, ['archive', 'audit']);
  });

  it('globs are matched in linear time: 40 stars against 100 KB of a name finish at once', () => {
    const t0 = Date.now();
    assert.equal(globMatch('*a'.repeat(40) + 'b', 'a'.repeat(100_000)), false);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    assert.equal(globMatch('in?oice*.pdf', 'INVOICE-2026.pdf'), true);
  });
});

describe('plugins/rules validation', () => {
  const issuesOf = (options: unknown) => {
    const issues: Issue[] = [];
    configSchema.parse(options, 'plugins[2]', issues);
    return issues.map((i) => `${i.path}: ${i.message}`);
  };

  it('accepts a full example', () => {
    assert.deepEqual(issuesOf({
      lists: { vip: 'vip.txt' }, time_zone: 'Europe/Berlin',
      rules: [
        { name: 'vip', when: { from: { list: 'vip' } }, actions: [{ score: -10 }, 'stop'] },
        { name: 'virus', when: { symbol: 'CLAM_*' }, actions: [{ reject: { text: 'Virus found', code: 554, enhanced: '5.7.1' } }] },
        { name: 'night', when: { time: '22:00-06:00', not: { authenticated: true } }, actions: [{ tempfail: 'Try later' }] },
      ],
    }), []);
  });

  it('names the rule and field of each mistake', () => {
    const got = issuesOf({
      rules: [
        { name: 'bad-regex', when: { subject: '(unclosed' }, actions: [{ score: 1 }] },
        { name: 'typo', when: { subjcet: 'x' }, actions: [{ score: 1 }] },
        { name: 'no-actions', when: { subject: 'x' }, actions: [] },
        { name: 'two-finals', actions: ['reject', 'discard'] },
        { name: 'bad-code', actions: [{ reject: { code: 451 } }] },
        { name: 'unknown-list', when: { to: { list: 'nope' } }, actions: ['discard'] },
        { name: 'bad-ip', when: { client_ip: '10.0.0.0/99' }, actions: ['discard'] },
        { name: 'BAD-REGEX', actions: ['stop'] },
        { name: 'bad-time', when: { time: '25:00-26:00' }, actions: ['stop'] },
        { name: 'empty-when', when: {}, actions: ['stop'] },
        { name: 'bad name!', when: { subjcet: 'x' }, actions: [{ scroe: 1 }] },
      ],
      time_zone: 'Mars/Olympus',
    });
    const expect = [
      /^plugins\[2\]\.rules\[0\] \(name "bad-regex"\)\.when\.subject: is not a valid regular expression/,
      /^plugins\[2\]\.rules\[1\] \(name "typo"\)\.when\.subjcet: is not a known criterion/,
      /^plugins\[2\]\.rules\[2\] \(name "no-actions"\)\.actions: a rule needs at least one action/,
      /^plugins\[2\]\.rules\[3\] \(name "two-finals"\)\.actions\[1\]\.discard: a rule takes one of/,
      /^plugins\[2\]\.rules\[4\] \(name "bad-code"\)\.actions\[0\]\.reject\.code: expected a 5xx reply code/,
      /^plugins\[2\]\.rules\[5\] \(name "unknown-list"\)\.when\.to\.list: names no list declared under lists: nope/,
      /^plugins\[2\]\.rules\[6\] \(name "bad-ip"\)\.when\.client_ip: not an IP address or CIDR: 10\.0\.0\.0\/99/,
      /^plugins\[2\]\.rules\[7\] \(name "BAD-REGEX"\)\.name: names the same rule \(RULE_BAD_REGEX\) as rules\[0\]/,
      /^plugins\[2\]\.rules\[8\] \(name "bad-time"\)\.when\.time: expected a time range/,
      /^plugins\[2\]\.rules\[9\] \(name "empty-when"\)\.when: names no criterion: give one \(.*\), or leave `when` out to match every message$/,
      // A bad name no longer hides the rule's other mistakes.
      /^plugins\[2\]\.rules\[10\] \(name "bad name!"\)\.name: expected a rule name of letters, digits, _ and - \(up to 64\), got "bad name!"$/,
      /^plugins\[2\]\.rules\[10\] \(name "bad name!"\)\.when\.subjcet: is not a known criterion/,
      /^plugins\[2\]\.rules\[10\] \(name "bad name!"\)\.actions\[0\]/,
      /^plugins\[2\]\.time_zone: is not a time zone/,
    ];
    for (const re of expect) assert.ok(got.some((g) => re.test(g)), `${re} not in:\n${got.join('\n')}`);
    assert.equal(got.length, expect.length, got.join('\n'));
  });

  it('copy_to takes an address or a list, each one a client could give at RCPT, and no final action beside it', () => {
    assert.deepEqual(issuesOf({ rules: [
      { name: 'one', actions: [{ copy_to: 'archive@archive.example' }] },
      { name: 'list', actions: [{ copy_to: ['a@archive.example', 'b@archive.example'] }, { score: 1 }, 'stop'] },
    ] }), []);
    assert.deepEqual(issuesOf({ rules: [
      { name: 'bare', actions: ['copy_to'] },
      { name: 'empty', actions: [{ copy_to: [] }] },
      { name: 'bad', actions: [{ copy_to: ['ok@archive.example', 'a..b@archive.example', 'x%y@archive.example', 'two words@archive.example', 'nodomain', 'jö@archive.example', 5, 'a@[192.0.2.1]'] }] },
      { name: 'final', actions: [{ copy_to: 'a@archive.example' }, 'quarantine'] },
    ] }), [
      'plugins[2].rules[0] (name "bare").actions[0].copy_to: expected an address such as archive@example.org',
      'plugins[2].rules[1] (name "empty").actions[0].copy_to: expected an address or a list of addresses',
      'plugins[2].rules[2] (name "bad").actions[0].copy_to[1]: not a plain local part',
      'plugins[2].rules[2] (name "bad").actions[0].copy_to[2]: percent-hack addresses are not accepted',
      'plugins[2].rules[2] (name "bad").actions[0].copy_to[3]: not an address',
      'plugins[2].rules[2] (name "bad").actions[0].copy_to[4]: a recipient needs a domain',
      'plugins[2].rules[2] (name "bad").actions[0].copy_to[5]: an address beyond ASCII cannot be given to mail sent without SMTPUTF8',
      'plugins[2].rules[2] (name "bad").actions[0].copy_to[6]: expected an address such as archive@example.org',
      'plugins[2].rules[2] (name "bad").actions[0].copy_to[7]: IP-literal recipients are not accepted',
      'plugins[2].rules[3] (name "final").actions: copy_to with quarantine makes no copy: a message that is not delivered is not copied either',
    ]);
  });

  it('a rule without actions, and one whose name is not a plain word, are refused', () => {
    assert.deepEqual(issuesOf({ rules: [{ name: 'x', when: { subject: 'a' } }] }), ['plugins[2].rules[0].actions: is required: expected a list of any value']);
    assert.match(issuesOf({ rules: [{ name: 'no spaces', actions: ['stop'] }] })[0], /^plugins\[2\]\.rules\[0\] \(name "no spaces"\)\.name: expected a rule name/);
  });
});

// The `outbound` criterion as pure logic over hand-made facts: which sender and recipients make mail outbound, how it
// is checked at load, how it reads the recipients left after a spam trap was dropped, and that it vouches for a sender
// in the whitelist-order warning. The real gateway's view of it is in outbound.test.ts.
import assert from 'node:assert/strict';
import type { Issue } from '../../../core/index.ts';
import { compileRuleSet } from '../../../plugins/rules/rule-set.ts';
import { runRules } from '../../../plugins/rules/evaluate.ts';
import { whitelistOrderWarnings } from '../../../plugins/rules/whitelist-order.ts';
import type { Facts } from '../../../plugins/rules/facts.ts';

const LOCAL = new Set(['corp.example', 'corp.example.net']);

/** A message from `client` to `recipients`; everything else is what no criterion here reads. */
function mail(client: { authenticated?: boolean; relayNetwork?: boolean }, recipients: string[]): Facts {
  return {
    mailFrom: 'alice@corp.example', recipients, ip: '203.0.113.4', authenticated: client.authenticated ?? false,
    relayNetwork: client.relayNetwork ?? false, isLocalDomain: (d) => LOCAL.has(d), headers: [], subject: '', body: '',
    bodyTruncated: false, attachments: [], size: 100, mimeDepth: 0, findings: [], now: new Date(0),
  };
}

function rulesOf(rules: unknown[], issues: Issue[] = []) {
  return compileRuleSet({ rules: rules as never, lists: {} }, 'plugins[0]', issues);
}

const holds = (when: unknown, f: Facts) => rulesOf([{ name: 'r', when, actions: [{ score: 1 }] }]).rules[0].when({ facts: f, regex: new Map(), lists: new Map() });

describe('plugins/rules: the outbound criterion', () => {
  const alice = { authenticated: true };

  it('a client that may relay, with one recipient outside the local domains or more', () => {
    assert.equal(holds({ outbound: true }, mail(alice, ['partner@remote.example'])), true);
    assert.equal(holds({ outbound: true }, mail(alice, ['colleague@corp.example', 'partner@remote.example'])), true);
    assert.equal(holds({ outbound: true }, mail({ relayNetwork: true }, ['partner@remote.example'])), true);
    // Every recipient local: mail among colleagues, whoever sends it.
    assert.equal(holds({ outbound: true }, mail(alice, ['colleague@corp.example', 'boss@Corp.Example.NET'])), false);
    // A client that may not relay: inbound mail, even one an alias sent on to an outside address.
    assert.equal(holds({ outbound: true }, mail({}, ['forward@remote.example'])), false);
  });

  it('false matches what true does not: a message with local and outside recipients is outbound for the whole', () => {
    assert.equal(holds({ outbound: false }, mail(alice, ['colleague@corp.example'])), true);
    assert.equal(holds({ outbound: false }, mail(alice, ['colleague@corp.example', 'partner@remote.example'])), false);
    assert.equal(holds({ outbound: true, authenticated: true }, mail({ relayNetwork: true }, ['partner@remote.example'])), false);
  });

  it('a subdomain of a local domain is outside unless listed, as the relay rule sees it', () => {
    assert.equal(holds({ outbound: true }, mail(alice, ['x@sub.corp.example'])), true);
  });

  it('reads the recipients left: once a trap outside is dropped, mail to colleagues only is not outbound', () => {
    const set = rulesOf([
      { name: 'trap', when: { to: 'trap@remote.example' }, actions: ['discard'] },
      { name: 'footer', when: { outbound: true }, actions: [{ disclaimer: 'Example GmbH' }] },
    ]);
    const f = mail(alice, ['trap@remote.example', 'colleague@corp.example']);
    const noEffects = { addFinding() {}, addRecipient() {}, matched() {}, skipped() {} };
    const out = runRules(set.rules, { facts: f, regex: new Map(), lists: new Map() }, noEffects);
    assert.deepEqual(out.discarded.map((d) => d.address), ['trap@remote.example']);
    assert.deepEqual(out.matched, ['trap']);
    assert.deepEqual(out.contentEdits, []);
  });

  it('is refused at load unless true or false, by key path', () => {
    const issues: Issue[] = [];
    rulesOf([
      { name: 'yes', when: { outbound: 'yes' }, actions: [{ score: 1 }] },
      { name: 'list', when: { not: { outbound: [true] } }, actions: [{ score: 1 }] },
    ], issues);
    assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
      'plugins[0].rules[0] (name "yes").when.outbound: expected true or false',
      'plugins[0].rules[1] (name "list").when.not.outbound: expected true or false',
    ]);
  });

  it('vouches for the sender: a stop on the From domain of outbound mail is not a whitelist anyone can claim', () => {
    const exe = { name: 'exe', when: { attachment: { name: '*.exe' } }, actions: ['reject'] };
    const stopOn = (when: unknown) => whitelistOrderWarnings(rulesOf([{ name: 'ours', when, actions: ['stop'] }, exe]), 'plugins[0]');
    assert.deepEqual(stopOn({ from: '*@corp.example', outbound: true }), []);
    assert.equal(stopOn({ from: '*@corp.example' }).length, 1);
  });
});

// A rule's symbol or score criterion that can never see what it asks for (a typo, a plugin not in the chain, one listed
// after rules) is said at check-config (stderr, still OK) and in the start log; a right order says nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function moat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

const RBL = { name: 'rbl', zones: [{ zone: 'bl-test.example', score: 2.5 }] };
const rules = (...list: Array<Record<string, unknown>>) => ({ name: 'rules', rules: list });
const BL_REJECT = { name: 'bl', when: { symbol: 'RBL_BL_TEST' }, actions: ['reject'] };

const warningsOf = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('warning: '));

describe('plugins/rules: criteria on findings the chain cannot give', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rules-chain-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function checkConfig(name: string, plugins: unknown[]): Promise<{ code: number; stdout: string; warnings: string[]; stderr: string }> {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ domains: ['example.com'], data_dir: path.join(dir, 'data'), plugins }));
    const r = await moat(['check-config', '-c', file]);
    return { ...r, warnings: warningsOf(r.stderr) };
  }

  it('check-config: a symbol of a plugin listed after rules is named with the order to fix, and the config stays OK', async () => {
    const r = await checkConfig('after', [rules(BL_REJECT), RBL]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: OK$/m);
    assert.deepEqual(r.warnings, [
      'warning: plugins[0].rules[0] (name "bl").when.symbol: RBL_BL_TEST can come only from rbl, and it comes after rules in plugins, '
        + 'so its findings are not there yet when rules runs: list rbl before rules',
    ]);
  });

  it('check-config: a typo gets the close match; symbols of plugins not in the chain are named, exact or glob', async () => {
    const r = await checkConfig('unknown', [RBL, rules(
      { name: 'typo', when: { symbol: 'RBL_BL_TSET' }, actions: ['reject'] },
      { name: 'virus', when: { symbol: 'CLAM_VIRUS' }, actions: ['reject'] },
      { name: 'bayes', when: { any: [{ symbol: ['BAYES_SPAM_9*', 'RBL_*'] }] }, actions: ['quarantine'] },
    )]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.warnings, [
      'warning: plugins[1].rules[0] (name "typo").when.symbol: no plugin in the chain records RBL_BL_TSET, so this criterion never matches; did you mean RBL_BL_TEST?',
      'warning: plugins[1].rules[1] (name "virus").when.symbol: no plugin in the chain records CLAM_VIRUS, so this criterion never matches',
      // RBL_* beside it is there: only the glob nothing records is named.
      'warning: plugins[1].rules[2] (name "bayes").when.any[0].symbol: no plugin in the chain records a symbol matching BAYES_SPAM_9*, so this criterion never matches',
    ]);
  });

  it('check-config: a score criterion or an accept rule with a scoring plugin after rules; nothing at all when the order is right', async () => {
    const late = await checkConfig('score-late', [{ name: 'spf' }, rules(
      { name: 'high', when: { score: { at_least: 6 } }, actions: ['quarantine'] },
      { name: 'partner', when: { from: { domain: 'partner.example' } }, actions: ['accept'] },
    ), { name: 'bayes' }]);
    assert.equal(late.code, 0, late.stderr);
    assert.deepEqual(late.warnings, [
      'warning: plugins[1].rules[0] (name "high").when.score: a score criterion sees the total of the findings so far, and bayes comes after rules in plugins, so its scores are not in it yet: list bayes before rules',
      'warning: plugins[1]: the accept rule partner ends the data hook, so bayes, after rules in plugins, never sees the messages accepted so (a virus scanner among them would be skipped): list bayes before rules',
    ]);
    // spf records at MAIL FROM and greylist at RCPT TO: there for rules even when listed after them.
    // A script names its own findings: any SCRIPT_ name may come, so none is called unknown.
    writeFileSync(path.join(dir, 'noop.js'), 'module.exports = () => null;\n');
    const right = await checkConfig('right', [RBL, { name: 'bayes' }, { name: 'scripts', scripts: [path.join(dir, 'noop.js')] }, rules(
      BL_REJECT,
      { name: 'likely', when: { all: [{ symbol: 'BAYES_SPAM_9*' }, { score: { at_least: 6 } }] }, actions: ['quarantine'] },
      { name: 'spf', when: { symbol: 'SPF_FAIL' }, actions: [{ score: 2 }] },
      { name: 'again', when: { symbol: 'RULE_SPF' }, actions: [{ score: 1 }] },
      { name: 'script', when: { symbol: 'SCRIPT_ANYTHING' }, actions: [{ score: 1 }] },
    ), { name: 'spf' }, { name: 'greylist' }]);
    assert.equal(right.code, 0, right.stderr);
    assert.deepEqual(right.warnings, []);
  });

  it('check-config refuses a score override for a symbol spf does not have, listing those it has', async () => {
    const r = await checkConfig('spf-typo', [{ name: 'spf', scores: { SPF_FAIIL: 6, SPF_SOFTFAIL: 3 } }]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /plugins\[0\]\.scores\.SPF_FAIIL: is not a symbol of this plugin; did you mean SPF_FAIL\? \(known: SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, .*SPF_GUESS_TEMPERROR\)/);
    assert.doesNotMatch(r.stderr, /SPF_SOFTFAIL: is not/);
    const dmarc = await checkConfig('dmarc-typo', [{ name: 'dmarc', scores: { DMARC_FAIL: 6 } }]);
    assert.equal(dmarc.code, 1);
    assert.match(dmarc.stderr, /plugins\[0\]\.scores\.DMARC_FAIL: is not a symbol of this plugin.*\(known: DKIM_PASS, .*DMARC_FAIL_REJECT/);
  });

  describe('at start, in the log', () => {
    let dns: DnsTestServer;
    let gw: TestGateway | undefined;
    before(async () => { dns = await startDnsServer({ zones: { 'bl-test.example': { '2.216.184.93': { A: '127.0.0.2' } } } }); });
    afterEach(async () => { await gw?.stop(); gw = undefined; });
    after(async () => { await dns?.stop(); });

    const warned = (g: TestGateway) => g.logs.filter((l) => l.level === 'warn' && l.plugin === 'rules').map((l) => String(l.msg));

    it('names an unknown symbol with its close match, and a plugin listed after rules', async () => {
      gw = await startGateway({ config: {
        dns: { servers: [dns.address], timeout: '300ms', tries: 1 },
        plugins: [rules(BL_REJECT, { name: 'typo', when: { symbol: 'RBL_BL_TSET' }, actions: ['reject'] }), RBL],
      } });
      assert.deepEqual(warned(gw), [
        'plugins[0].rules[0] (name "bl").when.symbol: RBL_BL_TEST can come only from rbl, and it comes after rules in plugins, so its findings are not there yet when rules runs: list rbl before rules',
        'plugins[0].rules[1] (name "typo").when.symbol: no plugin in the chain records RBL_BL_TSET, so this criterion never matches; did you mean RBL_BL_TEST?',
      ]);
    });

    it('says nothing when the chain records what the rules ask for, before them', async () => {
      gw = await startGateway({ config: {
        dns: { servers: [dns.address], timeout: '300ms', tries: 1 },
        plugins: [RBL, rules(BL_REJECT)],
      } });
      assert.ok(gw.logs.some((l) => l.msg === 'rules loaded'));
      assert.deepEqual(warned(gw), []);
    });
  });
});

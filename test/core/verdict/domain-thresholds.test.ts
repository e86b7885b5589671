// scores.domains: each recipient domain's thresholds, each key falling back to the global one and null turning an
// action off; subdomains only where an entry says so; a config that could not work is refused at load.
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../../core/config/load.ts';
import { sameThresholds, scoresFor, thresholdsFor, thresholdsText } from '../../../core/verdict/domain-thresholds.ts';
import { decideVerdict, verdictHeaderValue } from '../../../core/verdict/verdict.ts';

async function scoresOf(scores: Record<string, unknown>) {
  return (await validateConfig({ scores })).scores;
}

async function issuesOf(scores: Record<string, unknown>): Promise<Array<{ path: string; message: string }>> {
  try { await validateConfig({ scores }); } catch (e) { if (e instanceof ConfigError) return e.issues; throw e; }
  return [];
}

const HOSTING = {
  reject: 15,
  domains: {
    'custa.example': { reject: 10 },
    'custb.example': { quarantine: null, reject: null },
    'custc.example': { reject: 12, subdomains: true },
    'own.custc.example': { add_header: 3 },
  },
};

describe('scores.domains: thresholds per recipient domain', () => {
  it('a domain key left out takes the global value, null turns the action off, a number replaces it', async () => {
    const scores = await scoresOf(HOSTING);
    assert.deepEqual(thresholdsFor(scores, 'custa.example'), { reject: 10, add_header: 5 });
    assert.deepEqual(thresholdsFor(scores, 'custb.example'), { add_header: 5 });
    assert.deepEqual(thresholdsFor(scores, 'elsewhere.example'), { reject: 15, add_header: 5 });
    assert.equal(thresholdsText(thresholdsFor(scores, 'custb.example')), 'add_header=5');
  });

  it('a subdomain is covered only by an entry with subdomains: true, and its own entry comes first', async () => {
    const scores = await scoresOf(HOSTING);
    assert.deepEqual(thresholdsFor(scores, 'sub.custa.example'), { reject: 15, add_header: 5 }, 'custa.example does not say subdomains');
    assert.deepEqual(thresholdsFor(scores, 'a.b.custc.example'), { reject: 12, add_header: 5 });
    assert.deepEqual(thresholdsFor(scores, 'own.custc.example'), { reject: 15, add_header: 3 }, 'its own entry, over the parent\'s global ones');
  });

  it('matches whatever the case, a root dot, or the Unicode and xn-- forms of a name', async () => {
    const scores = await scoresOf({ domains: { 'bücher.example': { reject: 9 } } });
    for (const d of ['BÜCHER.example', 'xn--bcher-kva.example', 'bücher.example.']) assert.equal(thresholdsFor(scores, d).reject, 9, d);
  });

  it('the verdict is judged, and required= named, by the set that applied', async () => {
    const scores = await scoresOf(HOSTING);
    const findings = [{ symbol: 'RULE_SPAMMY', score: 12, plugin: 'rules' }];
    const a = decideVerdict(findings, scoresFor(scores, 'custa.example'));
    assert.equal(a.action, 'reject');
    assert.equal(a.required, 10);
    const b = decideVerdict(findings, scoresFor(scores, 'custb.example'));
    assert.equal(b.action, 'add_header');
    assert.match(verdictHeaderValue(b), /^add_header; score=12; required=5;/);
    assert.equal(decideVerdict(findings, scoresFor(scores, 'other.example')).action, 'add_header', 'global reject 15');
    assert.equal(scoresFor(scores, 'other.example'), scores, 'a domain without an entry is judged by the config itself');
  });

  it('sets equal in every threshold are the same set, whichever entries made them', async () => {
    const scores = await scoresOf({ reject: 15, domains: { 'a.example': { reject: 10 }, 'c.example': { reject: 10 }, 'd.example': { reject: 15 } } });
    assert.ok(sameThresholds(thresholdsFor(scores, 'a.example'), thresholdsFor(scores, 'c.example')));
    assert.ok(sameThresholds(thresholdsFor(scores, 'd.example'), thresholdsFor(scores, 'nothing.example')));
    assert.ok(!sameThresholds(thresholdsFor(scores, 'a.example'), thresholdsFor(scores, 'd.example')));
  });

  it('refuses a pattern key, a key that is no domain, two keys for one domain, and thresholds out of order', async () => {
    const issues = await issuesOf({
      reject: 15,
      domains: {
        '.custa.example': { reject: 10 },
        'a@custb.example': { reject: 10 },
        'custc.example': { reject: 10 },
        'CustC.example': { reject: 11 },
        'custd.example': { quarantine: 20 },
        'custe.example': { rejekt: 3 },
      },
    });
    const at = (p: string) => issues.filter((i) => i.path === `scores.domains.${p}`).map((i) => i.message).join(' | ');
    assert.match(at('.custa.example'), /pattern: write the domain itself, with subdomains: true/);
    assert.match(at('a@custb.example'), /not a domain name/);
    assert.match(at('CustC.example'), /names the domain "custc\.example" names too/);
    assert.match(issues.find((i) => i.path === 'scores.domains.custd.example.quarantine')?.message ?? '', /20 can never apply: .*reject \(15\)/);
    assert.match(issues.find((i) => i.path === 'scores.domains.custe.example.rejekt')?.message ?? '', /did you mean reject/);
    assert.equal(issues.filter((i) => i.path.startsWith('scores.domains.')).length, 5, JSON.stringify(issues));
  });

  it('takes a domain turning every action off: its mail is never tagged, held or refused by the score', async () => {
    assert.deepEqual(await issuesOf({ domains: { 'x.example': { add_header: null, reject: null } } }), []);
    const scores = await scoresOf({ domains: { 'x.example': { add_header: null, reject: null } } });
    assert.deepEqual(thresholdsFor(scores, 'x.example'), {});
    assert.equal(thresholdsText(thresholdsFor(scores, 'x.example')), 'none');
  });
});

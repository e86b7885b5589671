// What user-lists reads from the spf and dmarc plugins' findings: a DMARC failure a trusted ARC sealer vouched for is
// no authentication of the From domain, and a DKIM signature of its organisational domain does not stand in for one.
import assert from 'node:assert/strict';
import { authFacts, fromAuthenticated } from '../../../plugins/user-lists/auth.ts';
import type { Finding } from '../../../core/index.ts';

const dmarc = (symbol: string, detail: string): Finding => ({ plugin: 'dmarc', symbol, score: 0, detail });

describe('user-lists: authentication facts from findings', () => {
  it('takes an ARC override for a DMARC result that is no pass, so an unaligned signature does not count', () => {
    const findings = [
      dmarc('DKIM_PASS', 'd=sub.strict.test s=sel'),
      dmarc('DMARC_ARC_OVERRIDE', 'fail from=strict.test policy=reject spf=fail dkim_aligned=no sealed by lists.example'),
    ];
    const facts = authFacts(findings);
    assert.deepEqual(facts.dmarc, { result: 'arc_override', domain: 'strict.test' });
    assert.equal(fromAuthenticated(facts, 'strict.test'), undefined);
  });

  it('still counts a DMARC pass, and a signature of the domain when it has no DMARC record', () => {
    assert.equal(fromAuthenticated(authFacts([dmarc('DMARC_PASS', 'pass from=good.test policy=reject spf=pass dkim_aligned=good.test')]), 'good.test'), 'DMARC pass');
    const none = authFacts([dmarc('DKIM_PASS', 'd=mail.plain.test s=sel'), dmarc('DMARC_NONE', 'none from=plain.test policy=none spf=none dkim_aligned=no')]);
    assert.equal(fromAuthenticated(none, 'plain.test'), 'DKIM pass d=mail.plain.test');
  });
});

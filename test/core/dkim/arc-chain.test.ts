// The ARC set the gateway adds, as pure logic (core/dkim/arc-chain.ts): instance and cv from the sets a message carries
// and the gateway's own results; a chain that ended with cv=fail or holds 50 sets takes none (RFC 8617); the
// ARC-Authentication-Results text is the gateway's Authentication-Results, clause by clause, comments kept whole.
import assert from 'node:assert/strict';
import { ownResults, presentChain, sealPlan, splitClauses } from '../../../core/dkim/arc-chain.ts';
import { parseHeaders } from '../../../core/dkim/mailauth-parts.ts';

const fields = (...lines: string[]) => parseHeaders(Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1'));

/** The three fields of ARC set `i`, its seal saying `cv`. */
const set = (i: number, cv: string) => [
  `ARC-Seal: i=${i}; a=rsa-sha256; t=1; cv=${cv}; d=fwd.test; s=a;\r\n b=AAAA`,
  `ARC-Message-Signature: i=${i}; a=rsa-sha256; c=relaxed/relaxed; d=fwd.test; s=a; h=from; bh=AA; b=AAAA`,
  `ARC-Authentication-Results: i=${i}; fwd.test; spf=pass smtp.mailfrom=a@good.test`,
];

const OURS = 'Authentication-Results: mx.receiver.test; spf=pass smtp.mailfrom=a@good.test; dkim=pass header.i=@good.test;\r\n dmarc=pass (p=NONE arc=fail; odd) header.from=good.test; arc=pass (i=1 spf=pass)';

describe('ARC sealing: the set to add (core/dkim/arc-chain.ts)', () => {
  it('cuts clauses at semicolons outside comments and quoted strings', () => {
    assert.deepEqual(splitClauses('mx; a=1 (x; y (z;)) ; b="q;r"; c=3'), ['mx', 'a=1 (x; y (z;))', 'b="q;r"', 'c=3']);
  });

  it('reads the gateway\'s results: authserv-id, clauses, and the arc= clause only, not an arc= inside a comment', () => {
    const own = ownResults(fields('Received: from x', OURS));
    assert.equal(own?.authservId, 'mx.receiver.test');
    assert.equal(own?.arc, 'pass');
    assert.equal(own?.clauses.length, 4);
    assert.equal(ownResults(fields('Received: from x')), undefined);
  });

  it('a message without ARC fields gets i=1 cv=none, and its AAR says arc=none when the results had no arc clause', () => {
    const own = ownResults(fields('Authentication-Results: mx.receiver.test; spf=pass smtp.mailfrom=a@good.test'));
    const plan = sealPlan(presentChain(fields('From: a@good.test')), own);
    assert.deepEqual(plan, { i: 1, cv: 'none', authResults: 'mx.receiver.test;\r\n spf=pass smtp.mailfrom=a@good.test;\r\n arc=none' });
  });

  it('after a passing chain of two sets, i=3 cv=pass; after a failing one, cv=fail', () => {
    const chain = presentChain(fields(...set(1, 'none'), ...set(2, 'pass'), 'From: a@good.test'));
    assert.deepEqual(chain, { highest: 2, lastCv: 'pass' });
    const plan = sealPlan(chain, ownResults(fields(OURS))) as { i: number; cv: string; authResults: string };
    assert.deepEqual([plan.i, plan.cv], [3, 'pass']);
    assert.match(plan.authResults, /^mx\.receiver\.test;\r\n spf=pass [^\r]*;\r\n dkim=pass [^\r]*;\r\n dmarc=pass \(p=NONE arc=fail; odd\) header\.from=good\.test;\r\n arc=pass \(i=1 spf=pass\)$/);
    const failing = ownResults(fields(OURS.replace('arc=pass (i=1 spf=pass)', 'arc=fail (i=2 no valid signature)')));
    assert.equal((sealPlan(chain, failing) as { cv: string }).cv, 'fail');
  });

  it('a chain with a gap still gets the instance after its highest, so no instance is taken twice', () => {
    const chain = presentChain(fields(...set(1, 'none'), ...set(3, 'pass')));
    assert.equal(chain.highest, 3);
    assert.equal((sealPlan(chain, ownResults(fields(OURS.replace('arc=pass', 'arc=fail')))) as { i: number }).i, 4);
  });

  it('a chain whose newest set says cv=fail has ended: no set is added', () => {
    const plan = sealPlan(presentChain(fields(...set(1, 'none'), ...set(2, 'fail'))), ownResults(fields(OURS)));
    assert.equal((plan as { unsealed: string }).unsealed, 'chain_ended');
  });

  it('a chain of 50 sets takes no 51st', () => {
    const sets = Array.from({ length: 50 }, (_, n) => set(n + 1, n ? 'pass' : 'none')).flat();
    const plan = sealPlan(presentChain(fields(...sets)), ownResults(fields(OURS)));
    assert.deepEqual(plan, { unsealed: 'chain_ended', why: 'it carries 50 ARC sets, the most RFC 8617 allows' });
  });

  it('without the gateway\'s results, or with a chain and no arc result, nothing is sealed', () => {
    assert.equal((sealPlan({ highest: 0 }, undefined) as { unsealed: string }).unsealed, 'no_auth_results');
    const noArc = ownResults(fields('Authentication-Results: mx.receiver.test; spf=pass smtp.mailfrom=a@good.test'));
    assert.equal((sealPlan({ highest: 1, lastCv: 'none' }, noArc) as { unsealed: string }).unsealed, 'no_auth_results');
  });
});

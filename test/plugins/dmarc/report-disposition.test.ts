// What a report says the gateway did with a message (policy_evaluated): pure logic over a verdict.
import assert from 'node:assert/strict';
import type { Verdict } from '../../../core/index.ts';
import { settledRecord } from '../../../plugins/dmarc/report-disposition.ts';
import type { PendingRecord } from '../../../plugins/dmarc/report-facts.ts';

const verdict = (action: Verdict['action'], score: number): Verdict => ({ action, score, level: 'None', findings: [], reason: 'test' });

function pending(over: Partial<PendingRecord> = {}): PendingRecord {
  return {
    policy: { domain: 'sender.test', adkim: 'r', aspf: 'r', p: 'reject', sp: 'reject', pct: 50, fo: '0', rua: 'mailto:d@sender.test' },
    record: {
      sourceIp: '192.0.2.1', headerFrom: 'sender.test', envelopeFrom: 'soft.test', dkim: 'fail', spf: 'fail', dkimAuth: [],
      spfAuth: { domain: 'soft.test', scope: 'mfrom', result: 'softfail' },
    },
    failed: true, requested: 'reject',
    ...over,
  };
}

describe('dmarc report disposition', () => {
  it('says a failure the plugin only scored was delivered under local policy, with the verdict', () => {
    const r = settledRecord(pending(), verdict('add_header', 7), false);
    assert.equal(r?.disposition, 'none');
    assert.deepEqual(r?.reasons, [{ type: 'local_policy', comment: 'policy scored, not enforced; verdict add_header at score 7' }]);
  });

  it('gives the score\'s reject without a reason when it is what the domain asked', () => {
    const r = settledRecord(pending(), verdict('reject', 16), false);
    assert.equal(r?.disposition, 'reject');
    assert.deepEqual(r?.reasons, []);
  });

  it('says sampled_out when pct= made the plugin apply the next milder policy', () => {
    const r = settledRecord(pending({ enforcedAs: 'quarantine' }), verdict('quarantine', 6), true);
    assert.equal(r?.disposition, 'quarantine');
    assert.deepEqual(r?.reasons, [{ type: 'sampled_out', comment: 'pct=50' }]);
  });

  it('gives a passing message disposition none whatever its score made of it', () => {
    const r = settledRecord(pending({ failed: false, record: { ...pending().record, dkim: 'pass' } }), verdict('reject', 20), true);
    assert.equal(r?.disposition, 'none');
    assert.deepEqual(r?.reasons, []);
  });

  it('keeps the override of a trusted ARC sealer', () => {
    const override = { type: 'local_policy' as const, comment: 'arc=pass, trusted sealer lists.example' };
    const r = settledRecord(pending({ override }), verdict('accept', 1), true);
    assert.equal(r?.disposition, 'none');
    assert.deepEqual(r?.reasons, [override]);
  });

  it('reports nothing of a deferred message: its retry is judged and reported', () => {
    assert.equal(settledRecord(pending(), verdict('tempfail', 0), true), undefined);
  });
});

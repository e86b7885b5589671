// Which DMARC records can be acted on (RFC 7489 6.6.3): the reading of p=, sp= and rua= alone, without DNS.
import assert from 'node:assert/strict';
import { recordUse } from '../../../plugins/dmarc/policy-record.ts';

describe('dmarc policy record use', () => {
  it('takes valid p= and sp= as published, whatever their case', () => {
    assert.deepEqual(recordUse('v=DMARC1; p=reject'), { use: 'as-published' });
    assert.deepEqual(recordUse('v=DMARC1; p=Quarantine; sp=NONE; pct=50'), { use: 'as-published' });
  });

  it('reads an invalid or missing p= as p=none when rua= names a valid URI, else ignores the record', () => {
    assert.deepEqual(recordUse('v=DMARC1; p=bogus; rua=mailto:agg@example.org'), { use: 'as-none', problem: 'invalid p=bogus' });
    assert.deepEqual(recordUse('v=DMARC1; p=bogus; rua=nonsense, mailto:agg@example.org!10m'), { use: 'as-none', problem: 'invalid p=bogus' });
    assert.deepEqual(recordUse('v=DMARC1; p=bogus'), { use: 'ignored', problem: 'invalid p=bogus' });
    assert.deepEqual(recordUse('v=DMARC1; p=bogus; rua=not a uri'), { use: 'ignored', problem: 'invalid p=bogus' });
    assert.deepEqual(recordUse('v=DMARC1; rua=mailto:agg@example.org'), { use: 'as-none', problem: 'no p=' });
  });

  it('treats an invalid sp= like an invalid p=', () => {
    assert.deepEqual(recordUse('v=DMARC1; p=reject; sp=bogus'), { use: 'ignored', problem: 'invalid sp=bogus' });
    assert.deepEqual(recordUse('v=DMARC1; p=reject; sp=bogus; rua=mailto:agg@example.org'), { use: 'as-none', problem: 'invalid sp=bogus' });
  });

  it('shows a record value safely: nothing that could end a header comment, at most 32 characters', () => {
    const r = recordUse(`v=DMARC1; p=rej(e)ct\\${'x'.repeat(40)}`);
    assert.equal(r.use, 'ignored');
    assert.equal((r as { problem: string }).problem, `invalid p=rej?e?ct?${'x'.repeat(23)}`);
  });
});

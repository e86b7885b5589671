// pct= sampling of the DMARC policy, and the mailauth resolver adapter's error codes.
import assert from 'node:assert/strict';
import { enforcedAction } from '../../../plugins/dmarc/policy.ts';
import { mailauthResolver } from '../../../plugins/dmarc/resolver.ts';
import { zoneResolver } from '../../../scripts/spf/zone-resolver.ts';

describe('dmarc policy sampling', () => {
  it('enforces the policy inside the pct= sample and the next milder one outside it', () => {
    assert.equal(enforcedAction('reject', 100, true, () => 0.99), 'reject');
    assert.equal(enforcedAction('reject', 30, true, () => 0.10), 'reject');
    assert.equal(enforcedAction('reject', 30, true, () => 0.50), 'quarantine');
    assert.equal(enforcedAction('quarantine', '30', true, () => 0.50), 'none');
    assert.equal(enforcedAction('quarantine', 0, false, () => 0.50), 'quarantine');
    assert.equal(enforcedAction('none', 100, true), 'none');
    assert.equal(enforcedAction(undefined, 100, true), 'none');
  });
});

describe('dmarc mailauth resolver adapter', () => {
  const resolve = mailauthResolver(zoneResolver({
    'k._domainkey.a.test': [{ TXT: ['v=DKIM1; p=', 'AAAA'] }],
    'slow.test': ['TIMEOUT'],
    'empty.test': [{ A: '192.0.2.1' }],
  }));

  it('serves TXT records as one joined chunk each', async () => {
    assert.deepEqual(await resolve('k._domainkey.a.test', 'TXT'), [['v=DKIM1; p=AAAA']]);
  });

  it('gives errors the codes mailauth expects from node:dns', async () => {
    await assert.rejects(resolve('missing.test', 'TXT'), { code: 'ENOTFOUND' });
    await assert.rejects(resolve('empty.test', 'TXT'), { code: 'ENODATA' });
    await assert.rejects(resolve('slow.test', 'TXT'), { code: 'ETIMEOUT' });
  });
});

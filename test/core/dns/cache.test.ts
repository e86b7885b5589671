// The answer cache bounds what it holds by entries and by the size of the records, whoever chose the names.
import assert from 'node:assert/strict';
import { AnswerCache, MAX_CACHED_CHARS } from '../../../core/dns/cache.ts';

describe('dns answer cache', () => {
  it('keeps large TXT answers of many names within its character budget, dropping the least recently used', () => {
    const cache = new AnswerCache(10_000, () => 0);
    // A spammer's sender domains, each publishing 60 KB of TXT (the most one DNS answer over TCP can carry).
    const record = 'v=spf1 ' + 'ip4:192.0.2.1 '.repeat(4285);
    for (let i = 0; i < 2000; i++) cache.set(`TXT s${i}.spam.example`, 300_000, { records: [record] });
    const fit = Math.floor(MAX_CACHED_CHARS / record.length);
    assert.ok(cache.size <= fit, `held ${cache.size} answers of ${record.length} characters; ${fit} fit the budget`);
    assert.ok(cache.weight <= MAX_CACHED_CHARS);
    assert.ok(cache.get('TXT s1999.spam.example'), 'the newest answer was dropped');
    assert.equal(cache.get('TXT s0.spam.example'), undefined);
  });

  it('still holds cache_size small answers, and accounts for entries it replaces, expires and clears', () => {
    let now = 0;
    const cache = new AnswerCache(10_000, () => now);
    for (let i = 0; i < 12_000; i++) cache.set(`A h${i}.example`, 60_000, { records: ['192.0.2.1'] });
    assert.equal(cache.size, 10_000);
    const full = cache.weight;
    for (let i = 11_000; i < 12_000; i++) cache.set(`A h${i}.example`, 60_000, { records: ['192.0.2.1'] });
    assert.equal(cache.weight, full, 'replacing an entry counted it twice');
    now = 60_000;
    assert.equal(cache.get('A h11999.example'), undefined);
    assert.ok(cache.weight < full);
    cache.clear();
    assert.equal(cache.weight, 0);
    assert.equal(cache.size, 0);
  });
});

// The contract every StateStore implementation passes: one suite, run against memory, embedded and Redis.
import assert from 'node:assert/strict';
import type { StateStore } from '../../../core/store/types.ts';

export interface ContractTarget {
  /** Opens a fresh, empty store. */
  open(): Promise<StateStore>;
  /** Whether purgeExpired reports how many entries it removed (Redis expires keys by itself and reports 0). */
  purgeCounts: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function collect(it: AsyncIterable<[string, string]>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of it) out.set(k, v);
  return out;
}

export function storeContract(name: string, target: ContractTarget): void {
  describe(`StateStore contract: ${name}`, function () {
    let store: StateStore;
    beforeEach(async () => { store = await target.open(); });
    afterEach(async () => { await store.close(); });

    describe('strings', () => {
      it('get of a missing key is null', async () => {
        assert.equal(await store.get('nope'), null);
      });
      it('set then get returns the value; set again overwrites', async () => {
        await store.set('a', 'one');
        assert.equal(await store.get('a'), 'one');
        await store.set('a', 'two');
        assert.equal(await store.get('a'), 'two');
      });
      it('keeps any text, including unicode and separators', async () => {
        const v = JSON.stringify({ s: 'ümlaut ✓', n: 1, sep: 'a|b c:d' });
        await store.set('greylist:t:192.0.2.0/24 a@b c@d', v);
        assert.equal(await store.get('greylist:t:192.0.2.0/24 a@b c@d'), v);
      });
      it('a value set with a ttl expires', async () => {
        await store.set('short', 'x', 60);
        assert.equal(await store.get('short'), 'x');
        await sleep(90);
        assert.equal(await store.get('short'), null);
        assert.equal(await store.ttl('short'), -2);
      });
      it('set without a ttl removes an earlier expiry', async () => {
        await store.set('k', 'x', 60);
        await store.set('k', 'y');
        assert.equal(await store.ttl('k'), -1);
        await sleep(90);
        assert.equal(await store.get('k'), 'y');
      });
      it('del removes a key, and deleting a missing key is fine', async () => {
        await store.set('d', '1');
        await store.del('d');
        await store.del('d');
        assert.equal(await store.get('d'), null);
      });
    });

    describe('add (set if absent)', () => {
      it('sets only when the key is absent', async () => {
        assert.equal(await store.add('n', 'first', 10_000), true);
        assert.equal(await store.add('n', 'second', 10_000), false);
        assert.equal(await store.get('n'), 'first');
        const ttl = await store.ttl('n');
        assert.ok(ttl > 9_000 && ttl <= 10_000, `ttl ${ttl}`);
      });
      it('sets again once the old value expired', async () => {
        assert.equal(await store.add('n', 'first', 50), true);
        await sleep(80);
        assert.equal(await store.add('n', 'second'), true);
        assert.equal(await store.get('n'), 'second');
        assert.equal(await store.ttl('n'), -1);
      });
      it('lets exactly one of many concurrent callers win', async () => {
        const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => store.add('race', String(i), 5000)));
        assert.equal(wins.filter(Boolean).length, 1);
        assert.equal(await store.get('race'), String(wins.indexOf(true)));
      });
    });

    describe('counters', () => {
      it('incr starts from zero and returns the new value', async () => {
        assert.equal(await store.incr('c'), 1);
        assert.equal(await store.incr('c'), 2);
        assert.equal(await store.incr('c', 5), 7);
        assert.equal(await store.incr('c', -3), 4);
        assert.equal(await store.get('c'), '4');
      });
      it('incr continues from a value written with set', async () => {
        await store.set('c', '10');
        assert.equal(await store.incr('c', 2), 12);
      });
      it('adds fractions', async () => {
        assert.equal(await store.incr('f', 0.5), 0.5);
        assert.equal(await store.incr('f', 0.25), 0.75);
      });
      it('the ttl is set when the counter is created, and not pushed back by later increments', async () => {
        await store.incr('w', 1, 150);
        await sleep(60);
        await store.incr('w', 1, 150);
        const ttl = await store.ttl('w');
        assert.ok(ttl > 0 && ttl <= 95, `ttl ${ttl} should have kept running`);
        await sleep(120);
        assert.equal(await store.get('w'), null);
        assert.equal(await store.incr('w', 1, 1000), 1, 'an expired counter starts again');
      });
      it('counts every one of many concurrent increments', async () => {
        await Promise.all(Array.from({ length: 200 }, () => store.incr('many')));
        assert.equal(await store.get('many'), '200');
      });
    });

    describe('expire and ttl', () => {
      it('ttl is -2 for a missing key and -1 without expiry', async () => {
        assert.equal(await store.ttl('missing'), -2);
        await store.set('forever', 'x');
        assert.equal(await store.ttl('forever'), -1);
      });
      it('expire sets a new ttl on an existing key, and is false for a missing one', async () => {
        await store.set('e', 'x');
        assert.equal(await store.expire('e', 5000), true);
        const ttl = await store.ttl('e');
        assert.ok(ttl > 4000 && ttl <= 5000, `ttl ${ttl}`);
        assert.equal(await store.expire('absent', 5000), false);
        await store.expire('e', 40);
        await sleep(70);
        assert.equal(await store.get('e'), null);
      });
    });

    describe('sets', () => {
      it('sadd, smembers, sismember and srem', async () => {
        await store.sadd('s', 'b');
        await store.sadd('s', 'a');
        await store.sadd('s', 'a');
        assert.deepEqual((await store.smembers('s')).sort(), ['a', 'b']);
        assert.equal(await store.sismember('s', 'a'), true);
        assert.equal(await store.sismember('s', 'z'), false);
        await store.srem('s', 'a');
        assert.deepEqual(await store.smembers('s'), ['b']);
        assert.deepEqual(await store.smembers('nothing'), []);
      });
      it('a set left empty is gone', async () => {
        await store.sadd('s', 'only');
        await store.srem('s', 'only');
        assert.equal(await store.ttl('s'), -2);
      });
      it('a set expires as a whole, and starts empty when added to again', async () => {
        await store.sadd('s', 'old', 60);
        await store.sadd('s', 'old2', 10_000);
        const ttl = await store.ttl('s');
        assert.ok(ttl > 0 && ttl <= 60, `the ttl comes from the first sadd, got ${ttl}`);
        await sleep(90);
        assert.deepEqual(await store.smembers('s'), []);
        assert.equal(await store.sismember('s', 'old'), false);
        await store.sadd('s', 'new');
        assert.deepEqual(await store.smembers('s'), ['new']);
      });
      it('del removes a set with its members', async () => {
        await store.sadd('s', 'x');
        await store.del('s');
        assert.deepEqual(await store.smembers('s'), []);
        await store.sadd('s', 'y');
        assert.deepEqual(await store.smembers('s'), ['y']);
      });
    });

    describe('scan', () => {
      it('lists live entries under a prefix, sets as sorted members', async () => {
        await store.set('gl:a', '1');
        await store.set('gl:b', '2', 10_000);
        await store.set('gl:gone', '3', 30);
        await store.sadd('gl:set', 'y');
        await store.sadd('gl:set', 'x');
        await store.set('other:a', '4');
        await store.set('gl', 'not under gl:');
        await sleep(60);
        const got = await collect(store.scan('gl:'));
        assert.deepEqual([...got.entries()].sort(), [['gl:a', '1'], ['gl:b', '2'], ['gl:set', 'x,y']]);
      });
      it('treats glob characters in the prefix literally', async () => {
        await store.set('p*[x]:1', 'a');
        await store.set('p-other', 'b');
        assert.deepEqual([...(await collect(store.scan('p*[x]:'))).keys()], ['p*[x]:1']);
      });
      it('returns every entry of a large prefix exactly once', async () => {
        await Promise.all(Array.from({ length: 1200 }, (_, i) => store.set(`big:${i}`, String(i))));
        const got = await collect(store.scan('big:'));
        assert.equal(got.size, 1200);
        assert.equal(got.get('big:777'), '777');
      });
    });

    describe('purgeExpired', () => {
      it('removes expired entries and keeps live ones', async () => {
        await store.set('p:old', 'x', 30);
        await store.sadd('p:oldset', 'm', 30);
        await store.set('p:live', 'y', 60_000);
        await store.set('p:forever', 'z');
        await sleep(60);
        const n = await store.purgeExpired();
        if (target.purgeCounts) assert.equal(n, 2);
        else assert.equal(n, 0);
        assert.deepEqual([...(await collect(store.scan('p:'))).keys()].sort(), ['p:forever', 'p:live']);
        if (target.purgeCounts) assert.equal(await store.purgeExpired(), 0);
      });
    });
  });
}

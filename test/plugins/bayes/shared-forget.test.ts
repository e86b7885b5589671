// Forgetting a lesson through a real Redis: the counters go down (never below zero), the forgetting is logged so that
// another gateway's sync takes it out too, and a whole read counts it once.
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { RedisStore } from '../../../core/store/redis-store.ts';
import { SharedCounts } from '../../../plugins/bayes/shared-counts.ts';
import { SharedLayer } from '../../../plugins/bayes/shared-layer.ts';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';

const noRule = { balance: false, slack: 0, outside: { nspam: 0, nham: 0 } };
const HOUR = 3_600_000;

describe('bayes shared counts: forgetting a lesson', function () {
  this.timeout(30_000);
  let redis: RedisHandle;
  let raw: Redis;
  const stores: RedisStore[] = [];
  let namespace = 0;
  before(async () => { redis = await startRedis(); raw = new Redis(redis.url); });
  after(async () => {
    for (const s of stores) await s.close();
    raw?.disconnect();
    await redis?.stop();
  });

  async function gateway(ns: string) {
    const store = await RedisStore.connect(redis.url, { prefix: 'sf:' });
    stores.push(store);
    const counts = new SharedCounts(store, ns);
    const view = { shared: new Dictionary() };
    return { counts, view, layer: new SharedLayer(counts, view, HOUR) };
  }
  const counted = (d: Dictionary, tokens: string[]) => [d.nspam, d.nham, ...tokens.map((t) => `${d.spamOf(t)}/${d.hamOf(t)}`)];

  it('takes the lesson out in Redis, here, and at the other gateway\'s sync and whole read', async () => {
    const ns = `forget${namespace++}`;
    const a = await gateway(ns);
    const b = await gateway(ns);
    await a.layer.sync(0);
    await b.layer.sync(0);
    const kept = await a.counts.learn(['alpha', 'beta'], true, noRule);
    a.layer.learned(['alpha', 'beta'], true, kept.seq);
    const lesson = await a.counts.learn(['alpha', 'gamma'], true, noRule);
    a.layer.learned(['alpha', 'gamma'], true, lesson.seq);
    await b.layer.sync(1);
    assert.deepEqual(counted(b.view.shared, ['alpha', 'beta', 'gamma']), [2, 0, '2/0', '1/0', '1/0']);

    // 'delta' was never counted: Redis leaves it at zero and logs only what it took out.
    const forgotten = await a.counts.forget(['alpha', 'gamma', 'delta'], true);
    assert.deepEqual(forgotten.tokens.sort(), ['alpha', 'gamma']);
    a.layer.forgot(forgotten, true);
    const after = [1, 0, '1/0', '1/0', '0/0', '0/0'];
    assert.deepEqual(counted(a.view.shared, ['alpha', 'beta', 'gamma', 'delta']), after, 'this gateway at once');
    assert.deepEqual(await raw.mget(`sf:bayes:${ns}:ns`, `sf:bayes:${ns}:s:alpha`, `sf:bayes:${ns}:s:gamma`, `sf:bayes:${ns}:s:delta`), ['1', '1', '0', null]);
    await a.layer.sync(2);
    assert.deepEqual(counted(a.view.shared, ['alpha', 'beta', 'gamma', 'delta']), after, 'its own forgetting is not applied twice from the log');
    await b.layer.sync(3);
    assert.deepEqual(counted(b.view.shared, ['alpha', 'beta', 'gamma', 'delta']), after, 'the other gateway from the log');
    const whole = await a.counts.readAtLogPosition();
    assert.deepEqual(counted(whole.dict, ['alpha', 'beta', 'gamma', 'delta']), after, 'a whole read');
  });

  it('a whole read that meets a forgetting logged while it reads counts it once', async () => {
    const ns = `forget${namespace++}`;
    const a = await gateway(ns);
    for (let i = 0; i < 3000; i++) await raw.set(`sf:bayes:${ns}:h:filler${i}`, '1');
    await a.counts.learn(['alpha', 'beta'], true, noRule);
    await a.counts.learn(['alpha'], true, noRule);
    // The forgetting runs between the read's first and second steps.
    const step = a.counts.scanChunk.bind(a.counts);
    let steps = 0;
    a.counts.scanChunk = async (cursor: string) => {
      const chunk = await step(cursor);
      if (++steps === 1) await a.counts.forget(['alpha', 'beta'], true);
      return chunk;
    };
    const { dict } = await a.counts.readAtLogPosition();
    assert.ok(steps > 1, 'the read took several steps');
    assert.deepEqual(counted(dict, ['alpha', 'beta']), [1, 0, '1/0', '0/0']);
  });
});

describe('bayes shared counts without a script (the embedded store): forgetting a lesson', () => {
  it('takes each count down to zero at most, and names only the tokens it took one from, as the Redis script does', async () => {
    const { openStore } = await import('../../../core/store/index.ts');
    const os = await import('node:os');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-forget-embedded-'));
    const store = await openStore({ backend: 'embedded', redis: { url: '', prefix: '' }, purge_interval: 0 }, dir);
    try {
      assert.equal(store.script, undefined, 'the embedded store runs no scripts');
      await store.incr('bayes:emb:s:kept', 2);
      await store.incr('bayes:emb:ns', 1);
      const counts = new SharedCounts(store, 'emb');
      const forgotten = await counts.forget(['kept', 'never-learned'], true);
      assert.deepEqual(forgotten.tokens, ['kept']);
      assert.equal(await store.get('bayes:emb:s:kept'), '1');
      assert.equal(Number(await store.get('bayes:emb:s:never-learned') ?? 0), 0, 'no count below zero');
      assert.equal(await store.get('bayes:emb:ns'), '0');
      await counts.forget(['kept'], true);
      assert.equal(await store.get('bayes:emb:ns'), '0', 'the total stays at zero');
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

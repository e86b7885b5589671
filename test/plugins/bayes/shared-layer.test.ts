// Syncing shared counts through a real Redis: a sync applies only the lessons logged since the last one, a lesson
// this gateway learned itself is applied once, and a whole read happens at start, when due, and when the log no
// longer holds what follows (trimmed, or Redis emptied).
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { RedisStore } from '../../../core/store/redis-store.ts';
import { SharedCounts } from '../../../plugins/bayes/shared-counts.ts';
import { SharedLayer } from '../../../plugins/bayes/shared-layer.ts';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';

const noRule = { balance: false, slack: 0, outside: { nspam: 0, nham: 0 } };
const HOUR = 3_600_000;

describe('bayes shared counts, synced from the lesson log', function () {
  this.timeout(30_000);
  let redis: RedisHandle;
  let raw: Redis;
  const stores: RedisStore[] = [];
  let namespace = 0;

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  after(async () => {
    for (const s of stores) await s.close();
    raw?.disconnect();
    await redis?.stop();
  });

  /** Two gateways' views of one namespace, each with a store connection of its own. */
  async function gatewayPair() {
    const ns = `layer${namespace++}`;
    const make = async () => {
      const store = await RedisStore.connect(redis.url, { prefix: 'sl:' });
      stores.push(store);
      const counts = new SharedCounts(store, ns);
      const view = { shared: new Dictionary() };
      return { counts, view, layer: new SharedLayer(counts, view, HOUR) };
    };
    return { ns, a: await make(), b: await make() };
  }

  /** Learns a lesson in the store through `g`, and applies it at once as the plugin does. */
  async function learn(g: { counts: SharedCounts; layer: SharedLayer }, tokens: string[], spam: boolean) {
    const d = await g.counts.learn(tokens, spam, noRule);
    assert.equal(d.learned, true);
    g.layer.learned(tokens, spam, d.seq);
    return d.seq;
  }

  it('applies only the lessons logged since the last sync, not counters it did not log', async () => {
    const { ns, a, b } = await gatewayPair();
    await learn(a, ['alpha', 'beta'], true);
    await b.layer.sync(0);
    assert.deepEqual([b.view.shared.nspam, b.view.shared.spamOf('alpha')], [1, 1]);
    // A counter changed behind the log's back: a whole read would see it, a sync from the log does not.
    await raw.set(`sl:bayes:${ns}:s:phantom`, '7');
    await learn(a, ['alpha', 'gamma'], true);
    await learn(a, ['delta'], false);
    await b.layer.sync(1000);
    assert.deepEqual([b.view.shared.nspam, b.view.shared.nham, b.view.shared.spamOf('alpha'), b.view.shared.spamOf('gamma'), b.view.shared.hamOf('delta')], [2, 1, 2, 1, 1]);
    assert.equal(b.view.shared.spamOf('phantom'), 0, 'read from the log only');
    // Once a whole read is due, everything is read again.
    await b.layer.sync(2 * HOUR);
    assert.equal(b.view.shared.spamOf('phantom'), 7);
    assert.equal(b.view.shared.spamOf('alpha'), 2);
  });

  it('counts a lesson learned here once, whether the sync comes after it or before its answer is applied', async () => {
    const { a } = await gatewayPair();
    await a.layer.sync(0);
    await learn(a, ['own'], true);
    assert.equal(a.view.shared.spamOf('own'), 1, 'applied at once');
    await a.layer.sync(1000);
    assert.equal(a.view.shared.spamOf('own'), 1, 'the log does not apply it again');
    // The sync got there first: the late local apply is passed over.
    const d = await a.counts.learn(['late'], true, noRule);
    await a.layer.sync(2000);
    a.layer.learned(['late'], true, d.seq);
    assert.deepEqual([a.view.shared.spamOf('late'), a.view.shared.nspam], [1, 2]);
  });

  it('reads everything again when the log was trimmed past what it read, or Redis was emptied', async () => {
    const { ns, a, b } = await gatewayPair();
    await learn(a, ['one'], true);
    await b.layer.sync(0);
    await raw.set(`sl:bayes:${ns}:s:phantom`, '3');
    await learn(a, ['two'], true);
    await learn(a, ['three'], true);
    // The log keeps only the newest lesson: lesson 2 is gone, so the log cannot bring b up to date.
    await raw.xtrim(`sl:bayes-log:${ns}`, 'MAXLEN', 1);
    await b.layer.sync(1000);
    assert.deepEqual([b.view.shared.spamOf('two'), b.view.shared.spamOf('three'), b.view.shared.spamOf('phantom'), b.view.shared.nspam], [1, 1, 3, 3]);
    // Redis emptied (a restart without persistence): numbering starts again at 1.
    for (const key of await raw.keys(`sl:bayes*:${ns}*`)) await raw.del(key);
    await learn(a, ['fresh'], false);
    await b.layer.sync(2000);
    assert.deepEqual([b.view.shared.nspam, b.view.shared.nham, b.view.shared.hamOf('fresh'), b.view.shared.spamOf('one')], [0, 1, 1, 0]);
  });

  it('counts a lesson learned during a whole read once, whichever steps of the read it falls between', async () => {
    const { ns, a } = await gatewayPair();
    const words = Array.from({ length: 3000 }, (_, i) => `w${i}`);
    await learn(a, words, false);
    // A second gateway whose whole read has a lesson learned before each of its steps and after the last: by the
    // other gateway and by itself, each touching a counter the read has passed, one it has yet to reach, a new one
    // and the class totals.
    const seen = new Set<string>();
    let steps = 0;
    let b: { counts: SharedCounts; view: { shared: Dictionary }; layer: SharedLayer };
    const lessonBetweenSteps = async () => {
      const passed = [...seen].find((k) => k.startsWith('h:'))?.slice(2) ?? 'w0';
      const ahead = words.find((w) => w !== passed && !seen.has(`h:${w}`));
      const tokens = [passed, ...(ahead ? [ahead] : []), `new${steps}`, 'common'];
      await learn(steps % 2 === 0 ? a : b, tokens, false);
    };
    class InterleavedCounts extends SharedCounts {
      override async scanChunk(cursor: string) {
        await lessonBetweenSteps();
        const chunk = await super.scanChunk(cursor);
        steps++;
        for (const [key] of chunk.entries) seen.add(key);
        if (chunk.cursor === '0') await lessonBetweenSteps();
        return chunk;
      }
    }
    const store = await RedisStore.connect(redis.url, { prefix: 'sl:' });
    stores.push(store);
    const counts = new InterleavedCounts(store, ns);
    const view = { shared: new Dictionary() };
    b = { counts, view, layer: new SharedLayer(counts, view, HOUR) };
    await b.layer.sync(0);
    assert.ok(steps >= 2, `the read took ${steps} steps`);
    await b.layer.sync(1000);
    const whole = await new SharedCounts(store, ns).read();
    const lessons = steps + 2; // one before each step, one after the last, and the first
    assert.deepEqual([view.shared.nspam, view.shared.nham, whole.nham], [0, lessons, lessons]);
    assert.equal(view.shared.hamOf('common'), steps + 1);
    for (const e of whole.entries()) assert.deepEqual([e.token, view.shared.spamOf(e.token), view.shared.hamOf(e.token)], [e.token, e.spam, e.ham]);
    assert.equal(view.shared.size, whole.size);
  });

  it('reads a long log in batches, every lesson once', async () => {
    const { a, b } = await gatewayPair();
    await b.layer.sync(0);
    for (let i = 0; i < 1200; i++) await a.counts.learn([`t${i % 10}`, 'common'], i % 3 === 0, noRule);
    await b.layer.sync(1000);
    assert.deepEqual([b.view.shared.nspam, b.view.shared.nham, b.view.shared.spamOf('common') + b.view.shared.hamOf('common')], [400, 800, 1200]);
    const whole = await b.counts.read();
    for (let i = 0; i < 10; i++) assert.deepEqual([b.view.shared.spamOf(`t${i}`), b.view.shared.hamOf(`t${i}`)], [whole.spamOf(`t${i}`), whole.hamOf(`t${i}`)]);
  });
});

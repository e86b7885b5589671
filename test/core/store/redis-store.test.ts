// The Redis store against a real redis-server on loopback: the contract, key prefixes, and a clear error when unreachable.
import assert from 'node:assert/strict';
import { RedisStore } from '../../../core/store/redis-store.ts';
import { openStore } from '../../../core/store/index.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { freePort } from '../../helpers/ports.ts';
import { storeContract } from './contract.ts';

let redis: RedisHandle;
let n = 0;
before(async () => { redis = await startRedis(); });
after(async () => { await redis?.stop(); });

// Each test gets its own key prefix on the one server, which also proves prefixes keep stores apart.
storeContract('redis', { open: () => RedisStore.connect(redis.url, { prefix: `t${++n}:` }), purgeCounts: false });

describe('RedisStore', () => {
  it('openStore selects Redis, and stores with different prefixes do not see each other', async () => {
    const cfg = (prefix: string) => ({ backend: 'redis' as const, redis: { url: redis.url, prefix }, purge_interval: 0 });
    const a = await openStore(cfg('gw-a:'), '/nonexistent');
    const b = await openStore(cfg('gw-b:'), '/nonexistent');
    const a2 = await openStore(cfg('gw-a:'), '/nonexistent');
    await a.set('k', 'from a');
    assert.equal(await b.get('k'), null);
    assert.equal(await a2.get('k'), 'from a');
    const keys: string[] = [];
    for await (const [k] of a2.scan('')) keys.push(k);
    assert.deepEqual(keys, ['k'], 'scan hands back keys without the prefix');
    await Promise.all([a.close(), b.close(), a2.close()]);
  });

  it('fails to open with the URL (password hidden) when nothing listens', async () => {
    const port = await freePort();
    await assert.rejects(
      RedisStore.connect(`redis://:s3cret@127.0.0.1:${port}`),
      (err: Error) => err.message.includes(`127.0.0.1:${port}`) && !err.message.includes('s3cret'),
    );
  });

  it('with startUnreachable, opens anyway, fails commands while the server is down, and works once it answers', async () => {
    const port = await freePort();
    const store = await RedisStore.connect(`redis://127.0.0.1:${port}`, { startUnreachable: true });
    let late: RedisHandle | undefined;
    try {
      await assert.rejects(store.get('k'), 'a command fails rather than waiting for the server');
      late = await startRedis({ port });
      const deadline = Date.now() + 10_000;
      for (;;) {
        try { await store.set('k', 'v'); break; } catch (err) { if (Date.now() > deadline) throw err; }
      }
      assert.equal(await store.get('k'), 'v');
    } finally {
      await store.close();
      await late?.stop();
    }
  });
});

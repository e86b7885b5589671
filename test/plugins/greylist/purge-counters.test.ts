// `moat greylist purge` takes a network's auto_allow_after count with its entries, so the network can be allowed again
// once it has passed that many triplets anew; and a count already past the threshold still allows the network, once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';
import { openStore } from '../../../core/store/index.ts';
import type { StateStore } from '../../../core/store/types.ts';
import { MemoryStore } from '../../../core/store/memory-store.ts';
import { moat } from './moat.ts';
import { Greylister, passClientKey, passesKey } from '../../../plugins/greylist/greylister.ts';
import { deliver } from './session.ts';

const DELAY = 600;

describe('greylist purge and the auto_allow_after count (Redis)', function () {
  this.timeout(60_000);
  let redis: RedisHandle;
  let gw: TestGateway;
  let dir: string;
  let config: string;
  let store: StateStore;
  const net = '203.0.113.0/24';

  before(async () => {
    redis = await startRedis();
    const state = { backend: 'redis', redis: { url: redis.url, prefix: 'purge-test:' } };
    const greylist = { name: 'greylist', delay: `${DELAY}ms`, retry_window: '1m', remember: '1h', auto_allow_after: 3 };
    gw = await startGateway({ config: { state, plugins: [greylist] } });
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-glpurge-'));
    config = path.join(dir, 'mailmoat.yaml');
    writeFileSync(config, stringify({ data_dir: path.join(dir, 'data'), domains: ['example.com'], state, plugins: [greylist] }));
    store = await openStore({ ...state, purge_interval: 0 } as Parameters<typeof openStore>[0], path.join(dir, 'data'));
  });
  after(async () => {
    await store?.close();
    await gw?.stop();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** New triplets of the network for `rcpts`, deferred in one transaction, then passed by a retry after the delay. */
  async function passTriplets(sender: string, rcpts: string[]): Promise<void> {
    const started = Date.now();
    const first = await deliver(gw.port, { ip: '203.0.113.7', from: sender, to: rcpts });
    assert.deepEqual(first.rcpts.map((r) => r.code), rcpts.map(() => 451));
    await waitUntil('the greylisting delay to pass', () => Date.now() > started + DELAY + 50);
    const retry = await deliver(gw.port, { ip: '203.0.113.8', from: sender, to: rcpts });
    assert.deepEqual(retry.rcpts.map((r) => r.code), rcpts.map(() => 250));
    assert.equal(retry.data?.code, 250);
  }

  it('purge --client removes the network\'s count, and the network is auto-allowed after auto_allow_after new passes', async () => {
    await passTriplets('a@sender.test', ['p1@example.com', 'p2@example.com']);
    assert.equal(await store.get(passesKey(net)), '2');

    const purged = await moat('purge', '--client', '203.0.113.0/24', '--config', config);
    assert.equal(purged.code, 0, purged.err);
    assert.equal(purged.out, `removed 2 entries of ${net} and 1 auto_allow_after count`);
    assert.equal(await store.get(passesKey(net)), null, 'the count went with the entries');

    await passTriplets('b@sender.test', ['q1@example.com', 'q2@example.com', 'q3@example.com']);
    await waitFor('the network allowed', () => gw.logs.find((l) => l.msg === 'greylist client network allowed' && l.network === net));
    const third = await deliver(gw.port, { ip: '203.0.113.9', from: 'c@sender.test', to: 'new@example.com' });
    assert.equal(third.rcpts[0].code, 250, 'a new sender from the allowed network is not greylisted');
  });

  it('purge --all leaves no greylist key in Redis, counts included', async () => {
    const purged = await moat('purge', '--all', '--json', '--config', config);
    assert.equal(purged.code, 0, purged.err);
    const { removed, counters } = JSON.parse(purged.out);
    assert.ok(removed >= 4, purged.out);
    assert.equal(counters, 1);
    const left: string[] = [];
    for await (const [key] of store.scan('greylist:')) left.push(key);
    assert.deepEqual(left, []);
  });
});

describe('auto_allow_after with a count past the threshold', () => {
  const t = { client: '192.0.2.0/24', sender: 'a@example.com', rcpt: 'b@example.net' };

  it('allows the network at the next pass, and says so once', async () => {
    const store = new MemoryStore();
    const g = new Greylister(store, { delay: 0, retryWindow: 60_000, remember: 3_600_000, rememberBy: 'triplet', autoAllowAfter: 3 });
    // A count left behind (by a purge of an older version, or two passes counted at once) is past the threshold.
    await store.set(passesKey(t.client), '7', 3_600_000);
    assert.deepEqual(await g.recordPass(t, Date.now()), { counted: true, clientAllowed: true });
    assert.notEqual(await store.get(passClientKey(t.client)), null);
    assert.deepEqual(await g.recordPass({ ...t, rcpt: 'c@example.net' }, Date.now()), { counted: true, clientAllowed: false });
    await store.close();
  });
});

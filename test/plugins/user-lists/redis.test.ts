// The user-lists plugin on Redis: lists written by one process apply in a gateway, and a store that fails applies no
// list (skip: nothing refused, nothing lost, a warning) or defers (tempfail: 451 4.3.0).
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { openStore } from '../../../core/store/index.ts';
import { messageLine, seed, send, symbols } from './session.ts';

describe('user-lists on Redis, and when Redis fails', function () {
  this.timeout(40_000);
  let redis: RedisHandle;
  let skip: RelayingGateway;
  let defer: RelayingGateway;

  before(async () => {
    redis = await startRedis();
    const state = { backend: 'redis', redis: { url: redis.url, prefix: 'ul-test:' } };
    skip = await startRelayingGateway({ config: { state, plugins: [{ name: 'user-lists', allow_needs_auth: false }] } });
    defer = await startRelayingGateway({ config: { state, plugins: [{ name: 'user-lists', on_store_error: 'tempfail' }] } });
    const store = await openStore({ backend: 'redis', redis: { url: redis.url, prefix: 'ul-test:' }, purge_interval: 0 }, skip.dataDir);
    await seed(store, 'block', 'bob@example.com', '@spam.test');
    await seed(store, 'allow', 'bob@example.com', '@friends.test');
    await store.close();
  });
  after(async () => { await skip?.stop(); await defer?.stop(); await redis?.stop(); });

  it('applies lists kept in Redis', async () => {
    assert.equal((await send(skip.port, { ip: '203.0.113.30', from: 'x@spam.test', to: ['bob@example.com'] })).rcpts[0].code, 550);
    assert.equal((await send(defer.port, { ip: '203.0.113.30', from: 'x@spam.test', to: ['bob@example.com'] })).rcpts[0].code, 550, 'both gateways read one store');
    const ok = await send(skip.port, { ip: '203.0.113.30', from: 'x@friends.test', to: ['bob@example.com'] });
    assert.ok(symbols(messageLine(skip.logs, ok.data)).includes('USER_ALLOWLIST(-20)'));
  });

  describe('with Redis stopped', () => {
    before(async () => { await redis.stop(); });

    it('on_store_error: skip blocks nothing, allows nothing, delivers, and warns', async () => {
      const blocked = await send(skip.port, { ip: '203.0.113.31', from: 'x@spam.test', to: ['bob@example.com'] });
      assert.equal(blocked.rcpts[0].code, 250, 'not refused for a store outage');
      assert.equal(blocked.data?.code, 250, blocked.data?.text);
      await skip.sink.waitForText(blocked.marker);
      const allowed = await send(skip.port, { ip: '203.0.113.31', from: 'x@friends.test', to: ['bob@example.com'] });
      assert.equal(allowed.data?.code, 250);
      const syms = symbols(messageLine(skip.logs, allowed.data));
      assert.ok(syms.includes('USER_LISTS_UNAVAILABLE(0)'), String(syms));
      assert.ok(!syms.includes('USER_ALLOWLIST(-20)'));
      assert.ok(skip.logs.some((l) => l.level === 'warn' && String(l.msg).startsWith('user lists unavailable')));
    });

    it('on_store_error: tempfail answers 451 4.3.0', async () => {
      const r = await send(defer.port, { ip: '203.0.113.32', from: 'x@spam.test', to: ['bob@example.com'] });
      assert.equal(r.rcpts[0].code, 451);
      assert.match(r.rcpts[0].text, /^4\.3\.0 /);
    });
  });
});

// Greylisting shared through Redis: two gateway processes act as one, and a failing store follows on_store_error.
import assert from 'node:assert/strict';
import { spawnGateway, startGateway, type SpawnedGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { deliver, symbolsOf, sleep } from './session.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const DELAY = 1000;

describe('greylist with two gateway processes sharing one Redis', function () {
  this.timeout(60_000);
  let redis: RedisHandle;
  let a: SpawnedGateway;
  let b: SpawnedGateway;
  before(async () => {
    redis = await startRedis();
    const config = {
      state: { backend: 'redis', redis: { url: redis.url, prefix: 'shared-test:' } },
      plugins: [{ name: 'greylist', delay: `${DELAY}ms`, retry_window: '1m', remember: '1h' }],
    };
    [a, b] = await Promise.all([spawnGateway({ config }), spawnGateway({ config })]);
  });
  after(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await redis?.stop();
  });

  it('a triplet first seen by one gateway is deferred, then passes at the other after the delay, and is known to both', async () => {
    const t = { ip: '203.0.113.70', from: 'shared@sender.test', to: 'shared@example.com' };
    assert.equal((await deliver(a.port, t)).rcpts[0].code, 451, 'first attempt at A');
    // Too early at B: B sees A's entry rather than starting its own clock (checked by the pass below).
    assert.equal((await deliver(b.port, t)).rcpts[0].code, 451, 'early retry at B');
    await sleep(DELAY + 150);
    const atB = await deliver(b.port, t);
    assert.equal(atB.rcpts[0].code, 250, 'B lets the retry through: the first attempt it knows of was made at A');
    assert.equal(atB.data?.code, 250);
    const atA = await deliver(a.port, t);
    assert.equal(atA.rcpts[0].code, 250, 'A knows the pass recorded by B');
  });

  it('a triplet new to both is deferred by both until the delay has passed since the first attempt anywhere', async () => {
    const t = { ip: '203.0.113.71', from: 'other@sender.test', to: 'shared2@example.com' };
    assert.equal((await deliver(b.port, t)).rcpts[0].code, 451);
    await sleep(DELAY / 2);
    assert.equal((await deliver(a.port, t)).rcpts[0].code, 451, 'A does not restart the clock either');
    await sleep(DELAY / 2 + 150);
    assert.equal((await deliver(a.port, t)).rcpts[0].code, 250);
  });
});

describe('greylist when the Redis store fails', function () {
  this.timeout(30_000);
  let redis: RedisHandle;
  let pass: TestGateway;
  let fail: TestGateway;
  before(async () => {
    redis = await startRedis();
    const state = { backend: 'redis', redis: { url: redis.url, prefix: 'fail-test:' } };
    pass = await startGateway({ config: { state, plugins: [{ name: 'greylist', delay: '1h' }] } });
    fail = await startGateway({ config: { state, plugins: [{ name: 'greylist', delay: '1h', on_store_error: 'tempfail' }] } });
    const t = { ip: '203.0.113.80', from: 'x@sender.test', to: 'down@example.com' };
    assert.equal((await deliver(pass.port, t)).rcpts[0].code, 451, 'greylisting works while Redis is up');
    await redis.stop();
  });
  after(async () => { await pass?.stop(); await fail?.stop(); await redis?.stop(); });

  it('on_store_error: pass lets the recipient through with GREYLIST_ERROR and a warning', async () => {
    const r = await deliver(pass.port, { ip: '203.0.113.81', from: 'x@sender.test', to: 'down-pass@example.com' });
    assert.equal(r.rcpts[0].code, 250);
    assert.equal(r.data?.code, 250);
    assert.ok(symbolsOf(pass.logs, 'down-pass@example.com').includes('GREYLIST_ERROR(0)'));
    assert.ok(pass.logs.some((l) => l.msg === 'greylist state store failed' && l.level === 'warn'));
  });

  it('on_store_error: tempfail answers 451 4.3.0', async () => {
    const r = await deliver(fail.port, { ip: '203.0.113.82', from: 'x@sender.test', to: 'down-fail@example.com' });
    assert.equal(r.rcpts[0].code, 451);
    assert.match(r.rcpts[0].text, /^4\.3\.0 /);
  });
});

describe('greylist when Redis is down as the gateway starts', function () {
  this.timeout(30_000);
  let redis: RedisHandle | undefined;
  let gw: TestGateway;
  let port: number;
  before(async () => {
    port = await freePort();
    const state = { backend: 'redis', redis: { url: `redis://:s3cret@127.0.0.1:${port}`, prefix: 'late-test:' } };
    gw = await startGateway({ config: { state, plugins: [{ name: 'greylist', delay: '1h' }] } });
  });
  after(async () => { await gw?.stop(); await redis?.stop(); });

  it('starts, logs the unreachable store (password hidden), and follows on_store_error until Redis answers', async () => {
    const down = gw.logs.find((l) => l.level === 'error' && String(l.msg).startsWith('cannot reach the Redis state store'));
    assert.ok(down, 'the outage at start is logged as an error');
    assert.ok(!JSON.stringify(gw.logs).includes('s3cret'), 'the password is not logged');
    const r = await deliver(gw.port, { ip: '203.0.113.90', from: 'x@sender.test', to: 'early@example.com' });
    assert.equal(r.rcpts[0].code, 250, 'on_store_error: pass');
    assert.equal(r.data?.code, 250);
    assert.ok(symbolsOf(gw.logs, 'early@example.com').includes('GREYLIST_ERROR(0)'));

    redis = await startRedis({ port });
    await waitFor('the gateway to see Redis again', () => gw.logs.find((l) => l.msg === 'redis state store reachable again'));
    const later = await deliver(gw.port, { ip: '203.0.113.91', from: 'x@sender.test', to: 'later@example.com' });
    assert.equal(later.rcpts[0].code, 451, 'greylisting works once Redis is up, without a restart');
  });
});

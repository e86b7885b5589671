// The Redis store during an outage, against a real redis-server: a killed, a hung (SIGSTOP) and a password-protected
// server. From an admin's walk-through: each recipient waited 2 s while Redis was down (a 30-recipient transaction
// took 60 s), errors said only "Connection is closed.", a wrong password looked like an outage, and nothing was
// logged when Redis came back.
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisStore } from '../../../core/store/redis-store.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Line { level: string; msg: string; [k: string]: unknown }

/** A real logger whose JSON lines are kept, so redaction is the one the gateway writes with. */
function capture() {
  const lines: Line[] = [];
  const raw: string[] = [];
  const log = new JsonLogger({ format: 'json', level: 'debug', sink: { write: (l) => { raw.push(l); lines.push(JSON.parse(l)); } } });
  return { log, lines, raw };
}

/** Runs `n` gets one after another, as the RCPTs of one transaction do; how long they took and what they said. */
async function recipients(store: RedisStore, n: number): Promise<{ ms: number; errors: string[] }> {
  const t0 = performance.now();
  const errors: string[] = [];
  for (let i = 0; i < n; i++) {
    try { await store.get(`greylist:rcpt${i}`); } catch (err) { errors.push((err as Error).message); }
  }
  return { ms: performance.now() - t0, errors };
}

async function serverPid(url: string): Promise<number> {
  const c = new Redis(url, { lazyConnect: true });
  try {
    await c.connect();
    return Number(/process_id:(\d+)/.exec(await c.info('server'))![1]);
  } finally { c.disconnect(); }
}

describe('RedisStore while Redis is down', function () {
  this.timeout(60_000);
  let redis: RedisHandle;
  const stores: RedisStore[] = [];
  beforeEach(async () => { redis = await startRedis(); });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await redis.stop();
  });

  it('killed: 30 commands fail at once naming ECONNREFUSED; one line when it goes, one with the time down when it is back', async () => {
    const { log, lines } = capture();
    const store = await RedisStore.connect(redis.url, { log, prefix: 'o1:', startUnreachable: true });
    stores.push(store);
    await store.set('k', 'before');
    const port = redis.port;
    await redis.stop();
    await waitUntil('the outage line', () => lines.some((l) => l.msg.startsWith('redis state store unreachable')));

    const { ms, errors } = await recipients(store, 30);
    assert.equal(errors.length, 30);
    for (const e of errors) assert.match(e, /cannot reach the Redis state store at redis:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)/);
    assert.ok(ms < 600, `30 commands took ${Math.round(ms)} ms while Redis was down (documented: they fail at once)`);

    redis = await startRedis({ port });
    await waitUntil('the recovery line', () => lines.some((l) => l.msg === 'redis state store reachable again'), 15_000);
    assert.equal(await store.get('k'), null, 'a new, empty server answers');
    await store.set('k', 'after');
    assert.equal(await store.get('k'), 'after');

    const down = lines.filter((l) => l.msg.startsWith('redis state store unreachable'));
    const back = lines.filter((l) => l.msg === 'redis state store reachable again');
    assert.equal(down.length, 1, 'the outage is logged once, not per command or per reconnect');
    assert.equal(down[0].level, 'warn');
    assert.match(String(down[0].reason), /connection refused \(ECONNREFUSED\)|connection lost/);
    assert.equal(back.length, 1);
    assert.equal(back[0].level, 'info');
    assert.ok(Number(back[0].down_ms) >= 100, `how long it was down: ${back[0].down_ms} ms`);
    assert.match(String(back[0].down_for), /^\d+\.\d s$/);
  });

  it('hung (SIGSTOP): the first command waits the command timeout, the next 30 fail at once, and a probe finds it back', async () => {
    const { log, lines } = capture();
    const store = await RedisStore.connect(redis.url, { log, prefix: 'o2:', commandTimeoutMs: 500, probeIntervalMs: 100 });
    stores.push(store);
    await store.set('k', 'v');
    const pid = await serverPid(redis.url);
    process.kill(pid, 'SIGSTOP');
    try {
      const first = await recipients(store, 1);
      assert.ok(first.ms >= 450 && first.ms < 1500, `the first command waited ${Math.round(first.ms)} ms`);
      assert.match(first.errors[0], /timed out: no answer within 500 ms/);
      const rest = await recipients(store, 30);
      assert.equal(rest.errors.length, 30);
      assert.match(rest.errors[29], /timed out: no answer within 500 ms/);
      assert.ok(rest.ms < 300, `30 more commands took ${Math.round(rest.ms)} ms against a hung server`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitUntil('the recovery line', () => lines.some((l) => l.msg === 'redis state store reachable again'));
    assert.equal(await store.get('k'), 'v', 'answers match their commands after the hang');
    assert.equal(lines.filter((l) => l.msg.startsWith('redis state store unreachable')).length, 1);
  });

  it('hung at open: fails within the connect timeout with the reason, not "Connection is closed."', async () => {
    const pid = await serverPid(redis.url);
    process.kill(pid, 'SIGSTOP');
    try {
      const t0 = performance.now();
      await assert.rejects(RedisStore.connect(redis.url, { connectTimeoutMs: 700 }), (err: Error) => {
        assert.match(err.message, /^cannot reach the Redis state store at redis:\/\/127\.0\.0\.1:\d+: timed out: no answer within 700 ms/);
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms < 1500, `open gave up after ${Math.round(ms)} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });
});

describe('RedisStore with a wrong password', function () {
  this.timeout(30_000);
  let redis: RedisHandle;
  let port: number;
  const stores: RedisStore[] = [];
  before(async () => {
    redis = await startRedis();
    port = redis.port;
    const admin = new Redis(redis.url);
    await admin.config('SET', 'requirepass', 'R1ghtRedisPw');
    admin.disconnect();
  });
  after(async () => {
    for (const s of stores.splice(0)) await s.close();
    await redis?.stop();
  });

  for (const [what, url] of [
    ['a wrong password', () => `redis://:Wr0ngRedisPw@127.0.0.1:${port}`],
    ['the password written in the user\'s place', () => `redis://R1ghtRedisPw@127.0.0.1:${port}`],
  ] as const) {
    it(`${what}: opening fails saying authentication failed, with the password hidden`, async () => {
      await assert.rejects(RedisStore.connect(url()), (err: Error) => {
        assert.match(err.message, /refused the login: authentication failed \((WRONGPASS|NOAUTH)[^)]*\); check the user and password in state\.redis\.url/);
        assert.doesNotMatch(err.message, /Connection is closed|R1ghtRedisPw|Wr0ngRedisPw/);
        return true;
      });
    });
  }

  it('started anyway: one error line that says it is the login, commands fail at once saying so, no password logged', async () => {
    const { log, lines, raw } = capture();
    const store = await RedisStore.connect(`redis://:Wr0ngRedisPw@127.0.0.1:${port}`, { log, startUnreachable: true });
    stores.push(store);
    const { ms, errors } = await recipients(store, 30);
    assert.ok(ms < 300, `30 commands took ${Math.round(ms)} ms`);
    assert.equal(errors.length, 30);
    assert.match(errors[0], /authentication failed \(WRONGPASS/);
    await sleep(2500); // a few reconnects, each refused again
    const errorLines = lines.filter((l) => l.level === 'error');
    assert.equal(errorLines.length, 1, errorLines.map((l) => l.msg).join(' | '));
    assert.match(errorLines[0].msg, /refused the login: authentication failed .*check the user and password in state\.redis\.url.*starting without it/);
    assert.equal(errorLines[0].auth_failed, true);
    assert.equal(lines.filter((l) => l.level === 'warn').length, 0, 'not also reported as an outage');
    assert.ok(!raw.join('').includes('Wr0ngRedisPw'));
  });
});

// Learning through a real Redis: what one gateway learns from its honeypot the other scores with; a message is
// counted wholly or not at all; the balance rule holds under concurrent sessions and gateways; and a Redis that is
// down never costs mail (its lessons wait in a backlog: shared-backlog.test.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import type { SmtpReply } from '../../helpers/smtp-dialog.ts';
import { RedisStore } from '../../../core/store/redis-store.ts';
import { MemoryStore } from '../../../core/store/memory-store.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { SharedCounts } from '../../../plugins/bayes/shared-counts.ts';
import { allows } from '../../../plugins/bayes/auto-train.ts';
import { trainedFilter } from './fixtures.ts';
import { fromOutside, useRedisPair } from './gateway-beds.ts';
import type { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const novel = (subject: string) => `Subject: ${subject}\r\nFrom: x@novel.test\r\n\r\nxylophone zeppelin quasar nebula xylophone\r\n`;

/** One SMTP transaction from an outside client; returns the reply to the message. */
const attempt = (port: number, raw: string, rcpt: string): Promise<SmtpReply> => fromOutside(port, raw, [rcpt]);

describe('bayes counts shared through Redis', function () {
  this.timeout(30_000);
  let trained: Dictionary | undefined;
  const pair = useRedisPair('bayes-shared', 'bayes-test:', async (name, dir) => {
    const dict = path.join(dir, `${name}.tab`);
    trained ??= trainedFilter().dict;
    await saveDictionary(dict, trained);
    // Relayed, so that the test can read the trap message's verdict header.
    return { plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], honeypot_delivery: 'relay', sync_interval: '100ms', flush_interval: '100ms' }] };
  });
  const { gws } = pair;

  async function send(gw: TestGateway, raw: string, rcpt: string): Promise<string> {
    const marker = /^Subject: (\S+)/m.exec(raw)![1];
    assert.equal((await attempt(gw.port, raw, rcpt)).code, 250);
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const hit = pair.smarthost.messages.find((m) => m.raw.toString('latin1').includes(marker));
      if (hit) return hit.raw.toString('latin1');
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${marker} was not relayed`);
  }

  const probability = (raw: string) => Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(raw)?.[1]);

  it('gateway b scores with tokens that gateway a learned from its honeypot', async () => {
    const [a, b] = gws;
    assert.equal(probability(await send(b, novel('shared-before'), 'bob@example.com')), 0.5, 'unknown tokens: no opinion');
    assert.match(await send(a, novel('shared-learn'), 'trap@example.com'), /BAYES_LESSON\(0\)/);
    let p = 0.5;
    const end = Date.now() + 10_000;
    for (let i = 0; p <= 0.9 && Date.now() < end; i++) {
      await new Promise((r) => setTimeout(r, 150));
      p = probability(await send(b, novel(`shared-after-${i}`), 'bob@example.com'));
    }
    assert.ok(p > 0.9, `b learned from a (p=${p})`);
    // Shared learning lives in the store; the dictionary files stay as trained.
    assert.equal((await loadDictionary(path.join(pair.dir, 'a.tab'))).nspam, 30);
  });
});

describe('bayes learning in Redis, one message at a time', function () {
  this.timeout(30_000);
  let redis: RedisHandle;
  let store: RedisStore;
  let dir: string;
  const gws: TestGateway[] = [];

  before(async () => {
    redis = await startRedis();
    store = await RedisStore.connect(redis.url, { prefix: 'bayes-one:', commandTimeoutMs: 200 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-one-'));
  });
  afterEach(async () => {
    for (const g of gws.splice(0)) await g.stop();
  });
  after(async () => {
    await store?.close();
    await redis?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const noRule = { balance: false, slack: 0, outside: { nspam: 0, nham: 0 } };

  it('counts a message wholly or not at all when the call times out while Redis holds it', async () => {
    const counts = new SharedCounts(store, 'timeout');
    const tokens = Array.from({ length: 300 }, (_, i) => `w${i}`);
    const pauser = new Redis(redis.url);
    try {
      // Redis holds every command for 600 ms; the store gives up on them after 200 ms, and Redis runs them later.
      await pauser.call('CLIENT', 'PAUSE', '600', 'ALL');
      await assert.rejects(counts.learn(tokens, true, noRule), /timed out/i);
    } finally {
      pauser.disconnect();
    }
    await sleep(800);
    const d = await counts.read();
    assert.ok(d.nspam <= 1, `one message at most: ${d.nspam}`);
    for (const t of tokens) assert.equal(d.spamOf(t), d.nspam, `${t} counted as often as its message`);
  });

  it('decides the balance rule as auto-train.ts does, counting the messages outside the store', async () => {
    const counts = new SharedCounts(store, 'rule');
    for (const spam of [true, false]) for (const slack of [0, 1]) for (let ns = 0; ns <= 3; ns++) for (let nh = 0; nh <= 3; nh++) {
      await store.set('bayes:rule:ns', String(ns));
      await store.set('bayes:rule:nh', String(nh));
      const outside = { nspam: 2, nham: 1 };
      const { learned, nspam, nham } = await counts.learn(['t'], spam, { balance: true, slack, outside });
      const totals = { nspam: ns + outside.nspam, nham: nh + outside.nham };
      assert.deepEqual({ learned, nspam, nham }, { learned: allows({ balance: true, slack }, spam, totals), ...totals }, JSON.stringify({ spam, slack, ns, nh }));
    }
  });

  /** Gateways on one Redis key prefix, each with an empty dictionary of its own and a honeypot. */
  async function gateways(n: number, prefix: string): Promise<TestGateway[]> {
    for (let i = 0; i < n; i++) {
      gws.push(await startGateway({
        config: {
          state: { backend: 'redis', redis: { url: redis.url, prefix } },
          limits: { max_connections_per_ip: 100 },
          plugins: [{ name: 'bayes', dictionary: path.join(dir, `${prefix}${i}.tab`), seed: 'none', honeypots: ['trap@example.com'] }],
        },
      }));
    }
    return gws.slice(-n);
  }

  /** Sends 50 honeypot messages at once, spread over the gateways; then stops them, which waits for their learning. */
  async function burst(targets: TestGateway[]): Promise<void> {
    // Redis holds every command for a moment, as a busy or distant server would, so that every message's
    // learning is under way before any of it is done: the balance rule must still let exactly one through.
    const pauser = new Redis(redis.url);
    try { await pauser.call('CLIENT', 'PAUSE', '300', 'ALL'); } finally { pauser.disconnect(); }
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(targets[i % targets.length].port, novel(`burst-${i}`), 'trap@example.com')));
    assert.deepEqual(replies.map((r) => r.code), Array<number>(50).fill(250));
    for (const g of gws.splice(0)) await g.stop();
  }

  async function sharedCounts(prefix: string) {
    const s = await RedisStore.connect(redis.url, { prefix });
    try { return await new SharedCounts(s, 'default').read(); } finally { await s.close(); }
  }

  const decisions = (targets: TestGateway[], msg: string) => targets.reduce((n, g) => n + g.logs.filter((l) => l.msg === msg).length, 0);

  for (const n of [1, 2]) {
    it(`learns exactly one spam from 50 concurrent honeypot messages to ${n} gateway${n > 1 ? 's' : ''} with empty dictionaries (balance rule)`, async () => {
      const prefix = `bayes-burst-${n}:`;
      const targets = await gateways(n, prefix);
      await burst(targets);
      const d = await sharedCounts(prefix);
      assert.deepEqual([d.nspam, d.nham], [1, 0]);
      assert.equal(d.spamOf('xylophone'), 1);
      // Each gateway learned locally just what Redis decided.
      assert.equal(decisions(targets, 'bayes learned'), 1);
      assert.equal(decisions(targets, 'bayes not learned'), 49);
    });
  }
});

describe('bayes counts shared through a store that is not Redis (share_counts: on)', () => {
  it('learns one message at a time, so concurrent lessons keep the balance rule within the process', async () => {
    const counts = new SharedCounts(new MemoryStore(), 'mem');
    const rule = { balance: true, slack: 0, outside: { nspam: 0, nham: 0 } };
    const decisions = await Promise.all(Array.from({ length: 10 }, () => counts.learn(['a', 'b'], true, rule)));
    assert.deepEqual(decisions.map((d) => d.learned), [true, ...Array<boolean>(9).fill(false)]);
    const d = await counts.read();
    assert.deepEqual([d.nspam, d.nham, d.spamOf('a'), d.spamOf('b')], [1, 0, 1, 1]);
  });
});

describe('bayes with its Redis down', function () {
  this.timeout(30_000);
  const PASSWORD = 's3cret-bayes-pw';
  let redis: RedisHandle;
  let smarthost: Smarthost;
  let gw: TestGateway;
  let dir: string;

  before(async () => {
    redis = await startRedis();
    const admin = new Redis(redis.url);
    try { await admin.config('SET', 'requirepass', PASSWORD); } finally { admin.disconnect(); }
    smarthost = await startSmarthost();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-down-'));
    const dict = path.join(dir, 'dict.tab');
    await saveDictionary(dict, trainedFilter().dict);
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${smarthost.port}`,
        state: { backend: 'redis', redis: { url: `redis://:${PASSWORD}@127.0.0.1:${redis.port}`, prefix: 'bayes-down:' } },
        plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], ham_addresses: ['keep@example.com'] }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await smarthost?.stop();
    await redis?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('accepts honeypot, ham-address and user mail with 250, and logs each lesson it could not learn as a warning without secrets', async () => {
    await redis.stop();
    for (const [subject, rcpt] of [['down-trap', 'trap@example.com'], ['down-ham', 'keep@example.com'], ['down-user', 'bob@example.com']]) {
      const r = await attempt(gw.port, novel(subject), rcpt);
      assert.equal(r.code, 250, `${rcpt}: ${r.code} ${r.text}`);
      // The trap's copy is dropped (honeypot_delivery: discard) even when its lesson cannot be learned.
      if (rcpt === 'trap@example.com') assert.ok(gw.logs.some((l) => l.msg === 'recipient discarded' && String(l.to) === rcpt));
      else await smarthost.waitForText(subject);
    }
    const failed = () => gw.logs.filter((l) => l.msg === 'bayes could not learn');
    await waitUntil('both lessons to fail', () => failed().length === 2);
    assert.deepEqual(failed().map((l) => [l.level, l.class, l.why]).sort(), [
      ['warn', 'ham', 'ham address keep@example.com'],
      ['warn', 'spam', 'honeypot trap@example.com'],
    ]);
    assert.ok(failed().every((l) => typeof l.qid === 'string' && l.error), 'each says which message and why');
    assert.equal(gw.logs.filter((l) => JSON.stringify(l).includes(PASSWORD)).length, 0, 'the password is never logged');
  });
});

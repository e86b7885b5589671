// Lessons learned while Redis does not answer: kept in a bounded backlog, applied to the gateway's own view meanwhile,
// and sent in learning order once Redis is back, each counted once however often its call reached Redis. Real
// redis-server processes, stopped and started again, and a loopback relay that cuts the connection or holds
// Redis's answers back. Also: the bayes plugin slower than its hook timeout during DATA.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { TcpRelay } from '../../helpers/tcp-relay.ts';
import { RedisStore } from '../../../core/store/redis-store.ts';
import type { Logger, LogFields } from '../../../core/index.ts';
import { LessonQueued, SharedCounts, type SharedCountsOptions } from '../../../plugins/bayes/shared-counts.ts';
import { SharedLayer } from '../../../plugins/bayes/shared-layer.ts';
import { LessonBacklog } from '../../../plugins/bayes/lesson-backlog.ts';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';

const noRule = { balance: false, slack: 0, outside: { nspam: 0, nham: 0 } };
const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A logger that keeps its lines, for the backlog's warnings. */
function recordingLogger(lines: LogFields[]): Logger {
  const at = (level: string) => (msg: string, fields: LogFields = {}) => { lines.push({ level, msg, ...fields }); };
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

/** Every count of `d`, token by token, sorted: two dictionaries are equal when these are. */
function countsOf(d: Dictionary): Array<[string, number, number]> {
  return [['(messages)', d.nspam, d.nham] as [string, number, number], ...[...d.entries()].filter((e) => e.spam || e.ham).map((e) => [e.token, e.spam, e.ham] as [string, number, number])]
    .sort((a, b) => a[0].localeCompare(b[0]));
}

describe('bayes lesson backlog while Redis does not answer', function () {
  this.timeout(60_000);
  let redis: RedisHandle;
  let relay: TcpRelay;
  const stores: RedisStore[] = [];
  let n = 0;

  beforeEach(async () => {
    redis = await startRedis();
    relay = new TcpRelay(() => redis.port);
    await relay.start();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await relay.stop();
    await redis.stop();
  });

  /** A gateway's shared counts and the view it scores with, reaching Redis through the relay (or directly). */
  async function gateway(ns: string, opts: SharedCountsOptions & { direct?: boolean; commandTimeoutMs?: number } = {}) {
    const port = opts.direct ? redis.port : relay.port;
    const store = await RedisStore.connect(`redis://127.0.0.1:${port}`, { prefix: 'bl:', commandTimeoutMs: opts.commandTimeoutMs ?? 1000, startUnreachable: true });
    stores.push(store);
    const counts = new SharedCounts(store, ns, opts);
    const view = { shared: new Dictionary() };
    const layer = new SharedLayer(counts, view, HOUR);
    await layer.sync(0);
    /** Learns as the plugin does: the store's decision applied at once, or kept in the backlog. */
    const learn = async (tokens: string[], spam: boolean): Promise<'learned' | 'kept'> => {
      try {
        const d = await counts.learn(tokens, spam, noRule);
        assert.equal(d.learned, true);
        layer.learned(tokens, spam, d.seq);
        return 'learned';
      } catch (e) {
        if (e instanceof LessonQueued) return 'kept';
        throw e;
      }
    };
    return { counts, view, layer, learn };
  }

  /** What Redis holds, read with a connection of its own. */
  async function inRedis(ns: string): Promise<Dictionary> {
    const store = await RedisStore.connect(redis.url, { prefix: 'bl:' });
    try { return await new SharedCounts(store, ns).read(); } finally { await store.close(); }
  }

  /**
   * Syncs each view until `check` holds (a client reconnects on its own schedule, up to 2 s between tries); returns
   * what each sync said ('went back', or a failure's message).
   */
  async function syncUntil(what: string, views: Array<{ layer: SharedLayer }>, check: () => boolean | Promise<boolean>): Promise<string[]> {
    const end = Date.now() + 20_000;
    const said: string[] = [];
    let t = 1;
    for (;;) {
      for (const v of views) said.push(String(await v.layer.sync(t++).catch((e: Error) => e.message)));
      if (await check()) return said;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  it('sends the lessons of two gateways kept while Redis was unreachable in order once it is back, each counted once in Redis and in both views', async () => {
    const ns = `two${n++}`;
    const a = await gateway(ns);
    const b = await gateway(ns);
    assert.equal(await a.learn(['before', 'common'], true), 'learned');
    relay.down = true;
    relay.cut();
    const kept = [
      await a.learn(['a1', 'common'], true), await a.learn(['a2', 'common'], false), await a.learn(['a3', 'common'], true),
      await b.learn(['b1', 'common'], false), await b.learn(['b2', 'common'], false),
    ];
    assert.deepEqual(kept, Array(5).fill('kept'));
    assert.deepEqual([a.counts.waiting, b.counts.waiting], [3, 2]);
    // Meanwhile each gateway scores with its own kept lessons.
    assert.deepEqual([a.view.shared.spamOf('a1'), a.view.shared.hamOf('a2'), a.view.shared.spamOf('common'), b.view.shared.hamOf('b2')], [1, 1, 3, 1]);
    assert.equal((await inRedis(ns)).nspam, 1, 'Redis itself never saw them');

    relay.down = false;
    await syncUntil('both backlogs to be sent and read back', [a, b], async () => {
      const held = countsOf(await inRedis(ns)).join();
      return a.counts.waiting + b.counts.waiting === 0 && countsOf(a.view.shared).join() === held && countsOf(b.view.shared).join() === held;
    });
    const d = await inRedis(ns);
    assert.deepEqual(countsOf(d), [
      ['(messages)', 3, 3], ['a1', 1, 0], ['a2', 0, 1], ['a3', 1, 0], ['b1', 0, 1], ['b2', 0, 1], ['before', 1, 0], ['common', 3, 3],
    ]);
    for (const v of [a, b]) assert.deepEqual(countsOf(v.view.shared), countsOf(d));
    // Each gateway's lessons reached the log in the order they were learned.
    const logged = (await a.counts.lessonsAfter('0', 100)).map((l) => l.tokens[0]);
    assert.deepEqual(logged.filter((t) => t.startsWith('a')), ['a1', 'a2', 'a3']);
    assert.deepEqual(logged.filter((t) => t.startsWith('b') && t !== 'before'), ['b1', 'b2']);
  });

  it('sends again a lesson whose answer was lost, and Redis counts it once', async () => {
    const ns = `lost${n++}`;
    const a = await gateway(ns, { commandTimeoutMs: 300 });
    const b = await gateway(ns, { direct: true });
    relay.hold = true;
    assert.equal(await a.learn(['held', 'common'], true), 'kept');
    assert.equal((await inRedis(ns)).spamOf('held'), 1, 'Redis ran the script; only its answer was lost');
    // The connection dies with the answer in it; the client reconnects, and the backlog sends the lesson again.
    relay.hold = false;
    relay.cut();
    await syncUntil('the kept lesson to be answered', [a, b], () => a.counts.waiting === 0 && b.view.shared.spamOf('held') === 1);
    await a.layer.sync(HOUR * 2);
    const d = await inRedis(ns);
    assert.deepEqual(countsOf(d), [['(messages)', 1, 0], ['common', 1, 0], ['held', 1, 0]]);
    for (const v of [a, b]) assert.deepEqual(countsOf(v.view.shared), countsOf(d));
  });

  it('sends the backlog into a Redis that came back empty, and both views follow what Redis holds', async () => {
    const ns = `empty${n++}`;
    const a = await gateway(ns);
    const b = await gateway(ns);
    assert.equal(await a.learn(['old1', 'common'], true), 'learned');
    assert.equal(await b.learn(['old2', 'common'], false), 'learned');
    await a.layer.sync(1);
    await b.layer.sync(1);
    const port = redis.port;
    await redis.stop();
    assert.equal(await a.learn(['down-a', 'common'], true), 'kept');
    assert.equal(await b.learn(['down-b', 'common'], false), 'kept');
    redis = await startRedis({ port }); // no persistence: it comes back empty
    const results = await syncUntil('both backlogs in the empty Redis', [a, b, a], async () =>
      a.counts.waiting + b.counts.waiting === 0 && countsOf(a.view.shared).join() === countsOf(await inRedis(ns)).join() && countsOf(b.view.shared).join() === countsOf(await inRedis(ns)).join());
    const d = await inRedis(ns);
    // The kept lessons are counted once; what the old Redis held is gone, from Redis and from both views.
    assert.deepEqual(countsOf(d), [['(messages)', 1, 1], ['common', 1, 1], ['down-a', 1, 0], ['down-b', 0, 1]]);
    for (const v of [a, b]) assert.deepEqual(countsOf(v.view.shared), countsOf(d));
    assert.ok(results.includes('went back'), `the loss was noticed: ${results.join(', ')}`);
  });

  it('keeps at most its bound, dropping the oldest with one warning naming how many', async () => {
    const ns = `bound${n++}`;
    const lines: LogFields[] = [];
    // Redis stopped, not cut off: connections are refused, so the client gives up on the first call after its retries
    // rather than keep it queued until its timeout, from where it would reach Redis when it is back and count (once)
    // though dropped here.
    const a = await gateway(ns, { direct: true, backlogLessons: 3, log: recordingLogger(lines), commandTimeoutMs: 5000 });
    const port = redis.port;
    await redis.stop();
    for (let i = 1; i <= 5; i++) assert.equal(await a.learn([`k${i}`, 'common'], true), 'kept');
    assert.equal(a.counts.waiting, 3);
    assert.deepEqual([1, 2, 3, 4, 5].map((i) => a.view.shared.spamOf(`k${i}`)), [0, 0, 1, 1, 1], 'dropped lessons leave the view');
    redis = await startRedis({ port });
    await syncUntil('the backlog to be sent', [a], () => a.counts.waiting === 0 && a.view.shared.nspam === 3);
    const d = await inRedis(ns);
    assert.deepEqual(countsOf(d), [['(messages)', 3, 0], ['common', 3, 0], ['k3', 1, 0], ['k4', 1, 0], ['k5', 1, 0]]);
    assert.deepEqual(countsOf(a.view.shared), countsOf(d));
    assert.deepEqual((await a.counts.lessonsAfter('0', 10)).map((l) => l.tokens[0]), ['k3', 'k4', 'k5']);
    const overflow = lines.filter((l) => l.msg === 'bayes lesson backlog overflowed');
    assert.deepEqual(overflow.map((l) => [l.level, l.dropped]), [['warn', 2]]);
    assert.deepEqual(lines.filter((l) => l.msg === 'bayes lesson backlog sent').map((l) => [l.learned, l.not_learned]), [[3, 0]]);
  });

  it('gives a lesson learned while the backlog is being sent its turn after it, and its learner the decision', async () => {
    const ns = `turn${n++}`;
    const a = await gateway(ns, { direct: true, commandTimeoutMs: 5000 });
    const port = redis.port;
    await redis.stop();
    for (let i = 0; i < 300; i++) assert.equal(await a.learn([`q${i}`, 'common'], false), 'kept');
    redis = await startRedis({ port });
    const syncing = syncUntil('the backlog to be sent', [a], () => a.counts.waiting === 0);
    // Once Redis has answered the first of them, and while the rest are being sent:
    while (a.counts.waiting === 300) await sleep(1);
    assert.ok(a.counts.waiting > 0, 'the backlog was still being sent');
    assert.equal(await a.learn(['late', 'common'], true), 'learned');
    await syncing;
    const logged = (await a.counts.lessonsAfter('0', 500)).map((l) => l.tokens[0]);
    assert.deepEqual(logged, [...Array.from({ length: 300 }, (_, i) => `q${i}`), 'late']);
    await a.layer.sync(HOUR * 5);
    assert.deepEqual(countsOf(a.view.shared), countsOf(await inRedis(ns)));
  });

  it('stops within its last try with lessons still kept, saying how many are lost', async () => {
    const ns = `stop${n++}`;
    const lines: LogFields[] = [];
    const a = await gateway(ns, { log: recordingLogger(lines) });
    relay.down = true;
    relay.cut();
    for (let i = 0; i < 4; i++) assert.equal(await a.learn([`s${i}`], false), 'kept');
    const started = Date.now();
    assert.equal(await a.counts.close(300), 4);
    assert.ok(Date.now() - started < 1500, `close took ${Date.now() - started} ms`);
    assert.deepEqual(lines.filter((l) => l.msg === 'bayes lessons lost at stop').map((l) => [l.level, l.lessons]), [['warn', 4]]);
    await assert.rejects(a.counts.learn(['late'], false, noRule), /closed/);
  });
});

describe('bayes lesson backlog bounds (pure logic)', () => {
  const lesson = (order: number, tokens: number) => ({ order, id: `id${order}`, tokens: Array.from({ length: tokens }, (_, i) => `t${i}`), spam: true, rule: noRule });

  it('keeps learning order when a late failure is added behind newer lessons, and bounds tokens too', () => {
    const b = new LessonBacklog(10, 10);
    for (const o of [0, 2, 3]) assert.deepEqual(b.add(lesson(o, 2)), []);
    b.add(lesson(1, 2));
    const order: number[] = [];
    for (let l = b.first(); l; l = b.first()) { order.push(l.order); b.remove(l); }
    assert.deepEqual(order, [0, 1, 2, 3]);
    for (const o of [4, 5, 6]) b.add(lesson(o, 4));
    assert.deepEqual([b.size, b.tokenCount, b.first()?.order, b.takeDropped()], [2, 8, 5, 1]);
    assert.deepEqual(b.add(lesson(7, 11)).map((l) => l.order), [5, 6, 7], 'a lesson larger than the bound is not kept either');
  });
});

describe('bayes slower than its hook timeout during DATA', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-slow-'));
    gw = await startGateway({
      config: {
        // Reading 2 MB of a 4 MB message from its spool file takes many turns of the event loop: a 1 ms timeout fires
        // while bayes is still reading it, as a slow disk or a far larger message would make it.
        plugins: [{ name: 'bayes', dictionary: path.join(dir, 'd.tab'), seed: 'none', min_learned: 0, max_bytes: '2MB', honeypots: ['trap@example.com'], timeout: '1ms' }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers 451 4.3.0 (the chain\'s timeout policy) without hanging, keeps nothing, learns nothing, and takes the next command', async () => {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<x@sender.test>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<trap@example.com>')).code, 250);
      const line = 'slowword '.repeat(110) + '\r\n';
      const started = Date.now();
      const r = await c.data(`Subject: slow\r\nFrom: x@sender.test\r\n\r\n${line.repeat(4 * 1024 * 1024 / line.length)}`);
      assert.deepEqual([r.code, /4\.3\.0/.test(r.text)], [451, true], `${r.code} ${r.text}`);
      assert.ok(Date.now() - started < 15_000);
      assert.equal((await c.cmd('RSET')).code, 250, 'the session goes on');
    } finally {
      await c.quit();
    }
    const timedOut = gw.logs.filter((l) => l.msg === 'plugin timed out');
    assert.deepEqual(timedOut.map((l) => [l.plugin, l.hook]), [['bayes', 'data']]);
    await sleep(500); // the handler runs on after its timeout: whatever it does then must change nothing
    // Learned nothing: the one lesson line says the message was deferred, and the sender's retry is what is learned.
    assert.deepEqual(gw.logs.filter((l) => /^bayes (learned|not learned|could not learn)$/.test(String(l.msg))).map((l) => [l.msg, l.class, l.reason]),
      [['bayes not learned', 'spam', 'deferred (4xx): learned when a retry is accepted']]);
    // Not acknowledged, so nothing of it is kept: the sender retries.
    for (const sub of ['queue', 'journal', 'delivered', 'quarantine']) assert.deepEqual(fs.readdirSync(path.join(gw.dataDir, sub)), [], sub);
    const summary = gw.logs.filter((l) => l.msg === 'message').map((l) => [l.verdict, l.plugin, String(l.reply).slice(0, 9)]);
    assert.deepEqual(summary, [['tempfail', 'bayes', '451 4.3.0']]);
  });
});

// Two gateways learning from honeypot and ham addresses through one Redis, while that Redis is SIGKILLed and started
// again on the same port: with an append-only file (nothing it acknowledged may be lost, nothing counted twice) and
// without persistence (it comes back empty, and the gateways must score with what it holds, not with what it lost).
// Mail is accepted throughout: learning is after the answer, and a lesson Redis cannot take is kept in the gateway's
// backlog and sent when Redis is back, counted once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { TcpRelay } from '../../helpers/tcp-relay.ts';
import { freePort } from '../../helpers/ports.ts';
import { endChild, holdUntilExit } from '../../helpers/leftovers.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { RedisStore } from '../../../core/store/redis-store.ts';
import { SharedCounts } from '../../../plugins/bayes/shared-counts.ts';
import type { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { waitUntil } from '../../helpers/wait-for.ts';


/**
 * A redis-server on a fixed loopback port and dir, which the test kills with SIGKILL and starts again there. The
 * test helper's Redis runs without persistence and cannot be restarted on its data, hence this one.
 */
class RedisProcess {
  private child: ChildProcess | null = null;
  private letGo: (() => void) | null = null;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-redis-restart-'));
  private readonly end = holdUntilExit({ dir: this.dir });
  readonly port: number;
  private readonly appendonly: boolean;
  constructor(port: number, appendonly: boolean) {
    this.port = port;
    this.appendonly = appendonly;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      // `always`: the answer to a script goes out only once its writes are on disk, so a SIGKILL can lose no lesson
      // the gateway was told was learned, whatever the machine's load (README: Several gateways).
      '--appendonly', this.appendonly ? 'yes' : 'no', '--appendfsync', 'always',
      '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning', '--logfile', path.join(this.dir, 'redis.log'),
    ], { stdio: 'ignore' });
    this.child = child;
    this.letGo = holdUntilExit({ child });
    child.once('exit', this.letGo);
    await waitUntil('redis-server to answer', async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      const r = new Redis(this.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      r.on('error', () => undefined);
      try { await r.connect(); return (await r.ping()) === 'PONG'; } catch { return false; } finally { r.disconnect(); }
    }, 15_000);
  }

  async kill(): Promise<void> {
    const child = this.child!;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    if (this.child) await endChild(this.child);
    this.end();
  }
}

/** One SMTP transaction; returns the queue id of the accepted message. */
async function send(port: number, rcpt: string, words: string): Promise<string> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<x@sender.test>')).code, 250);
    assert.equal((await c.cmd(`RCPT TO:<${rcpt}>`)).code, 250);
    const r = await c.data(`Subject: ${words.split(' ')[0]}\r\nFrom: x@sender.test\r\n\r\n${words}\r\n`);
    assert.equal(r.code, 250, `${rcpt}: ${r.code} ${r.text}`);
    return /queued as (\S+)/.exec(r.text)![1];
  } finally {
    await c.quit();
  }
}

/** What became of each message's lesson, by its log line under the message's queue id. */
function outcome(gws: TestGateway[], qid: string): string | undefined {
  for (const g of gws) {
    const l = g.logs.find((x) => x.qid === qid && /^bayes (learned|not learned|could not learn)$/.test(String(x.msg)));
    if (l) return String(l.msg);
  }
  return undefined;
}

async function sharedCounts(port: number, prefix: string): Promise<Dictionary> {
  const s = await RedisStore.connect(`redis://127.0.0.1:${port}`, { prefix });
  try { return await new SharedCounts(s, 'default').read(); } finally { await s.close(); }
}

describe('bayes shared counts when their Redis is killed and restarted', function () {
  this.timeout(60_000);
  let dir: string;
  let smarthost: Smarthost;
  const gws: TestGateway[] = [];
  const cleanup: Array<() => Promise<void>> = [];

  before(async () => {
    ensureCommands({ 'redis-server': 'redis-server' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-restart-'));
    smarthost = await startSmarthost();
  });
  afterEach(async () => {
    for (const g of gws.splice(0)) await g.stop();
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  after(async () => {
    await smarthost?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Two gateways on one Redis key prefix, each with an empty dictionary, learning every lesson (no balance rule). */
  async function twoGateways(url: string, prefix: string, minLearned = 1): Promise<TestGateway[]> {
    for (const name of ['a', 'b']) {
      gws.push(await startGateway({
        config: {
          smarthost: `smtp://127.0.0.1:${smarthost.port}`,
          state: { backend: 'redis', redis: { url, prefix } },
          limits: { max_connections_per_ip: 100 },
          plugins: [{
            name: 'bayes', dictionary: path.join(dir, `${prefix}${name}.tab`), seed: 'none', min_learned: minLearned,
            honeypots: ['trap@example.com'], ham_addresses: ['keep@example.com'], balance: false, sync_interval: '100ms',
          }],
        },
      }));
    }
    return gws.slice(-2);
  }

  it('counts every acknowledged lesson exactly once across a SIGKILL with appendonly, even when answers were lost', async () => {
    const redis = new RedisProcess(await freePort(), true);
    cleanup.push(() => redis.stop());
    await redis.start();
    const relay = new TcpRelay(() => redis.port);
    cleanup.push(() => relay.stop());
    await relay.start();
    const prefix = 'aof:';
    const [a, b] = await twoGateways(`redis://127.0.0.1:${relay.port}`, prefix);
    const sent: Array<{ qid: string; word: string; spam: boolean }> = [];
    let n = 0;
    const lesson = async (gw: TestGateway, spam: boolean) => {
      const word = `lesson${n++}`;
      sent.push({ qid: await send(gw.port, spam ? 'trap@example.com' : 'keep@example.com', `${word} common`), word, spam });
    };
    const inRedis = async () => { const d = await sharedCounts(redis.port, prefix); return d.nspam + d.nham; };

    for (const [gw, spam] of [[a, true], [b, false], [a, false], [b, true]] as const) await lesson(gw, spam);
    await waitUntil('the first lessons to be answered', () => sent.every((m) => outcome(gws, m.qid)), 15_000);
    // Mid-learning: these four run in Redis and reach its AOF, but their answers never get back before it dies.
    relay.hold = true;
    for (const [gw, spam] of [[a, true], [b, true], [a, false], [b, false]] as const) await lesson(gw, spam);
    await waitUntil('Redis to run the held lessons', async () => (await inRedis()) === 8, 15_000);
    await redis.kill();
    // The dead server's connections go, and the answers with them.
    relay.hold = false;
    relay.cut();
    await redis.start();
    // Both gateways see Redis again before the last lessons, which then are learned or wait behind their gateway's
    // backlog of lost answers (a command whose connection dropped is not sent again by itself: it could count twice).
    await waitUntil('both gateways to reach Redis again', () => [a, b].every((g) => g.logs.some((l) => l.msg === 'redis state store reachable again')), 15_000);
    for (const [gw, spam] of [[b, true], [a, false]] as const) await lesson(gw, spam);
    await waitUntil('every lesson to end', () => sent.every((m) => outcome(gws, m.qid)), 15_000);
    // Lessons whose answers were lost wait in their gateway's backlog, sent again at the next sync.
    await waitUntil('every lesson to reach Redis', async () => (await inRedis()) === sent.length, 15_000);
    for (const g of gws.splice(0)) await g.stop();

    const d = await sharedCounts(redis.port, prefix);
    const counted = (m: { word: string; spam: boolean }) => (m.spam ? d.spamOf(m.word) : d.hamOf(m.word));
    for (const m of sent) {
      const said = outcome([a, b], m.qid);
      assert.ok(said === 'bayes learned' || said === 'bayes could not learn', `${m.word}: ${said}`);
      assert.equal(counted(m), 1, `${m.word} (${said}) counted ${counted(m)} times`);
    }
    const spam = sent.filter((m) => m.spam).length;
    assert.deepEqual([d.nspam, d.nham, d.spamOf('common'), d.hamOf('common')], [spam, sent.length - spam, spam, sent.length - spam]);
    assert.ok(sent.slice(0, 4).every((m) => outcome([a, b], m.qid) === 'bayes learned'), 'the lessons before the held ones were acknowledged');
  });

  it('scores with what an emptied Redis holds once it is back, and sends it the lessons kept meanwhile, each once', async () => {
    const redis = new RedisProcess(await freePort(), false);
    cleanup.push(() => redis.stop());
    await redis.start();
    const prefix = 'empty:';
    // min_learned is never reached, so the header states the totals each gateway scores with.
    const [a, b] = await twoGateways(`redis://127.0.0.1:${redis.port}`, prefix, 1000);
    let m = 0;
    /** The totals gateway `gw` scores with, from a user message's header. */
    const totals = async (gw: TestGateway): Promise<string> => {
      const word = `probe${m++}`;
      await send(gw.port, 'bob@example.com', word);
      const raw = await smarthost.waitForText(word);
      return /^X-Mailmoat-Bayes: none; dictionary too small: (\d+ spam and \d+ ham)/m.exec(raw)![1];
    };
    const learnedBy = async (gw: TestGateway, rcpt: string, word: string) => {
      const qid = await send(gw.port, rcpt, word);
      await waitUntil(`${word}'s lesson`, () => !!outcome([gw], qid), 15_000);
      return { qid, said: outcome([gw], qid) };
    };

    for (const [rcpt, word] of [['trap@example.com', 'before1'], ['trap@example.com', 'before2'], ['keep@example.com', 'before3']]) {
      assert.equal((await learnedBy(a, rcpt, word)).said, 'bayes learned');
    }
    await waitUntil('b to score with what a learned', async () => (await totals(b)) === '2 spam and 1 ham', 15_000);

    await redis.kill();
    // Lessons while Redis is down are answered 250 like any mail; each is kept in its gateway's backlog (the log
    // line says so) and scored with there meanwhile.
    const down = await Promise.all([learnedBy(a, 'trap@example.com', 'down1'), learnedBy(b, 'keep@example.com', 'down2')]);
    assert.deepEqual(down.map((x) => x.said), ['bayes could not learn', 'bayes could not learn']);
    for (const gw of [a, b]) assert.match(String(gw.logs.find((l) => l.msg === 'bayes could not learn')?.error), /kept in memory/);
    assert.deepEqual([await totals(a), await totals(b)], ['3 spam and 1 ham', '2 spam and 2 ham'], 'while Redis is down, the counts last read and the kept lessons are scored with');
    await redis.start();

    // Back, and empty: both gateways send their kept lessons, drop the counts Redis no longer has, and score with the
    // file's (none here) and what Redis holds: the two kept lessons, each once.
    const inRedis = async () => { const d = await sharedCounts(redis.port, prefix); return `${d.nspam} spam and ${d.nham} ham`; };
    await waitUntil('the kept lessons to reach Redis', async () => (await inRedis()) === '1 spam and 1 ham', 15_000);
    for (const gw of [a, b]) await waitUntil('the shared counts to follow Redis', async () => (await totals(gw)) === '1 spam and 1 ham', 15_000);
    for (const gw of [a, b]) assert.ok(gw.logs.some((l) => l.msg === 'bayes shared counts went back' && l.level === 'warn'), 'the loss is logged');
    let d = await sharedCounts(redis.port, prefix);
    assert.deepEqual([d.spamOf('before1'), d.spamOf('before2'), d.hamOf('before3'), d.spamOf('down1'), d.hamOf('down2')], [0, 0, 0, 1, 1]);

    assert.equal((await learnedBy(b, 'keep@example.com', 'after1')).said, 'bayes learned');
    for (const gw of [a, b]) await waitUntil('the new lesson to reach both', async () => (await totals(gw)) === '1 spam and 2 ham', 15_000);
    d = await sharedCounts(redis.port, prefix);
    assert.deepEqual([d.hamOf('after1'), d.hamOf('down2'), d.nspam, d.nham], [1, 1, 1, 2]);
  });

  it('sends the backlogs of two gateways once Redis (appendonly) is back: exact counts in Redis and in each view', async () => {
    const redis = new RedisProcess(await freePort(), true);
    cleanup.push(() => redis.stop());
    await redis.start();
    const prefix = 'backlogs:';
    const [a, b] = await twoGateways(`redis://127.0.0.1:${redis.port}`, prefix, 1000);
    let m = 0;
    const totals = async (gw: TestGateway): Promise<string> => {
      const word = `look${m++}`;
      await send(gw.port, 'bob@example.com', word);
      const raw = await smarthost.waitForText(word);
      return /^X-Mailmoat-Bayes: none; dictionary too small: (\d+ spam and \d+ ham)/m.exec(raw)![1];
    };
    const qids: string[] = [await send(a.port, 'trap@example.com', 'first common')];
    await waitUntil('the first lesson', () => outcome([a], qids[0]) === 'bayes learned', 15_000);
    await redis.kill();
    for (const [gw, rcpt, word] of [[a, 'trap@example.com', 'a1'], [b, 'keep@example.com', 'b1'], [a, 'keep@example.com', 'a2'], [b, 'trap@example.com', 'b2'], [b, 'keep@example.com', 'b3']] as const) {
      qids.push(await send(gw.port, rcpt, `${word} common`));
    }
    await waitUntil('the lessons during the outage to be kept', () => qids.slice(1).every((q) => outcome(gws, q) === 'bayes could not learn'), 15_000);
    await redis.start();
    await waitUntil('both backlogs to reach Redis', async () => { const d = await sharedCounts(redis.port, prefix); return d.nspam + d.nham === 6; }, 15_000);
    const d = await sharedCounts(redis.port, prefix);
    assert.deepEqual([d.nspam, d.nham, d.spamOf('common'), d.hamOf('common')], [3, 3, 3, 3]);
    assert.deepEqual([d.spamOf('first'), d.spamOf('a1'), d.hamOf('a2'), d.hamOf('b1'), d.spamOf('b2'), d.hamOf('b3')], [1, 1, 1, 1, 1, 1]);
    for (const gw of [a, b]) await waitUntil('each gateway to score with all six', async () => (await totals(gw)) === '3 spam and 3 ham', 15_000);
  });
});

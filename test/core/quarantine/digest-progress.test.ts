// The quarantine digest's progress: a run cut short (the schedule's stop, a `moat quarantine digest` SIGKILLed on the
// files of a data_dir with no gateway, queueing that fails part way) and resumed serves every recipient exactly once
// for its period; a recipient with more than DIGEST_ITEMS_MAX held messages is shown the newest; the state file
// written before progress was kept is read as a complete run.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnGateway, startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { startSmarthost } from '../../helpers/smarthost.ts';
import { runDigest, startDigestSchedule, type DigestDeps } from '../../../core/quarantine/digest.ts';
import { DIGEST_STATE_FILE, readDigestState, readLastDigest } from '../../../core/quarantine/digest-state.ts';
import { DIGEST_ITEMS_MAX } from '../../../core/quarantine/digest-mail.ts';
import { digestConfigSchema, type DigestConfig } from '../../../core/quarantine/digest-config.ts';
import { validate } from '../../../core/config/schema.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { newQueueId } from '../../../core/queue/queue-id.ts';
import { forEachBounded } from '../../../core/queue/for-each-bounded.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { until } from '../queue/send.ts';
import { digestText } from './digest-text.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Held { to: string; subject: string; receivedAt?: number }

/** Puts messages into the quarantine as the gateway does: queued, then moved there (QueueStore.commitTo). */
async function quarantine(store: QueueStore, held: Held[]): Promise<void> {
  await forEachBounded(held, 32, async ({ to, subject, receivedAt }) => {
    const data = Buffer.from(`From: <prize@lottery.example>\r\nTo: <${to}>\r\nSubject: ${subject}\r\n\r\nYou won!\r\n`);
    const at = receivedAt ?? Date.now();
    const e: QueueEntry = {
      id: newQueueId(), mailFrom: 'prize@lottery.example', recipients: [{ address: to, status: 'pending' }], prepend: '', remove: [],
      receivedAt: at, size: data.length, client: { ip: '192.0.2.1', helo: 'lottery.example' }, authenticated: false,
      attempts: 0, nextAttemptAt: at, history: [], verdict: { action: 'quarantine', score: 15, symbols: [] },
    };
    await store.enqueue(e, data);
    await store.commitTo('quarantine', e);
  });
}

const users = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => `user${i + offset}@example.com`);

/** Recipients of the digests (mail from <>) in a queue folder, one entry per digest. */
function queuedDigests(dataDir: string): string[] {
  const dir = path.join(dataDir, 'queue');
  return readdirSync(dir).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as QueueEntry)
    .filter((e) => e.mailFrom === '').map((e) => e.recipients[0].address);
}

function assertOncePerRecipient(got: string[], want: string[]): void {
  const dupes = got.filter((a, i) => got.indexOf(a) !== i);
  assert.deepEqual(dupes, [], 'no recipient twice');
  assert.deepEqual([...got].sort(), [...want].sort());
}

describe('quarantine digest progress: a run cut short is resumed, each recipient served once', function () {
  this.timeout(120_000);

  describe('with a gateway and a recording smarthost', () => {
    let g: RelayingGateway;
    let cfg: DigestConfig;
    let deps: DigestDeps;
    let queued: string[];

    beforeEach(async () => {
      g = await startRelayingGateway({ config: { domains: ['example.com'] } });
      const rt = g.gateway.runtime;
      cfg = validate(digestConfigSchema, {}).value;
      queued = [];
      deps = {
        dataDir: g.dataDir, store: rt.queue, config: () => cfg, hostname: () => 'mx.test', localDomains: () => rt.config.domains,
        schedule: (e) => { queued.push(e.recipients[0].address); rt.delivery.add(e); },
      };
    });
    afterEach(() => g.stop());

    it('the schedule stopped part way: the next schedule (a restart) resumes the period at once and sends only the rest', async () => {
      const rcpts = users(200);
      await quarantine(g.gateway.runtime.queue, rcpts.map((to) => ({ to, subject: 'hold-me' })));
      cfg = validate(digestConfigSchema, { enabled: true, interval: '1h' }).value;
      // Stopped once 40 digests are in the queue (a digest goes to delivery only once the progress names it).
      const store = g.gateway.runtime.queue;
      const enqueue = store.enqueue;
      let inQueue = 0;
      store.enqueue = async function (this: QueueStore, e: QueueEntry, data: Buffer) {
        await enqueue.call(this, e, data);
        if (e.mailFrom === '' && ++inQueue === 40) void first.stop();
      };
      const first = startDigestSchedule(deps);
      try {
        await until(() => inQueue >= 40, 20_000, '40 digests queued');
        await first.stop();
      } finally { store.enqueue = enqueue; }
      const state = readDigestState(g.dataDir);
      const cut = state.run?.queued.size ?? 0;
      assert.ok(cut >= 40 && cut < rcpts.length, `stopped part way (${cut} recorded)`);
      assert.equal(state.last, undefined, 'no period complete yet');
      assert.equal(cut, inQueue, 'every digest queued is recorded on disk');
      await until(() => queued.length === cut, 10_000, 'the recorded digests handed to delivery');

      const second = startDigestSchedule(deps);
      try {
        const mails = await g.sink.waitFor(rcpts.length, 30_000);
        await sleep(500);
        assert.equal(g.sink.messages.length, rcpts.length, 'nothing more arrives');
        assertOncePerRecipient(mails.flatMap((m) => m.rcptTo), rcpts);
        const done = readDigestState(g.dataDir);
        assert.equal(done.run, undefined, 'the run is complete');
        assert.equal(done.last, state.run!.until, 'the period that was resumed is the last complete one');
      } finally { await second.stop(); }
    });

    it('queueing fails after 30 recipients: the next run sends only the other 70, and mail since waits for the next period', async () => {
      const rcpts = users(100);
      await quarantine(g.gateway.runtime.queue, rcpts.map((to) => ({ to, subject: 'hold-me' })));
      const store = g.gateway.runtime.queue;
      const enqueue = store.enqueue;
      let ok = 0;
      store.enqueue = async function (this: QueueStore, e: QueueEntry, data: Buffer) {
        if (e.mailFrom === '' && ++ok > 30) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return enqueue.call(this, e, data);
      };
      let failed;
      try { failed = await runDigest(deps); } finally { store.enqueue = enqueue; }
      assert.equal(failed.digests.filter((d) => d.queueId).length, 30);
      assert.equal(failed.digests.filter((d) => d.error).length, 70);
      assert.equal(readDigestState(g.dataDir).run?.queued.size, 30);
      // Mail for a recipient already served, after the period's end: not in the resumed run.
      await sleep(5);
      await quarantine(store, [{ to: 'user0@example.com', subject: 'later' }]);

      const resumed = await runDigest(deps);
      assert.equal(resumed.resumed, 30);
      assert.equal(resumed.since, null, 'the same period: everything held before it ended');
      assert.deepEqual(resumed.digests.filter((d) => d.error), []);
      assert.equal(resumed.digests.length, 70);
      const mails = await g.sink.waitFor(rcpts.length, 30_000);
      await sleep(300);
      assertOncePerRecipient(g.sink.messages.map((m) => m.rcptTo[0]), rcpts);
      assert.equal(mails.length, rcpts.length);

      const next = await runDigest(deps);
      assert.deepEqual(next.digests.map((d) => [d.to, d.messages]), [['user0@example.com', 1]], 'the next period has the later message');
      const [later] = (await g.sink.waitFor(rcpts.length + 1)).slice(rcpts.length);
      assert.match(digestText(later.raw), /Subject: later/);
    });

    it(`lists the newest ${DIGEST_ITEMS_MAX} of a recipient's messages, and says how many older ones it leaves out`, async () => {
      const base = Date.now() - 3_600_000;
      const n = DIGEST_ITEMS_MAX + 10;
      await quarantine(g.gateway.runtime.queue, Array.from({ length: n }, (_, i) => ({ to: 'ann@example.com', subject: `msg ${String(i).padStart(3, '0')}`, receivedAt: base + i * 1000 })));
      const dry = await runDigest(deps, { dryRun: true });
      assert.equal(dry.digests[0].listed?.length, n, 'a dry run shows the administrator every one');
      const report = await runDigest(deps);
      assert.deepEqual(report.digests.map((d) => [d.to, d.messages]), [['ann@example.com', n]]);
      const [mail] = await g.sink.waitFor(1);
      const text = digestText(mail.raw);
      const listed = [...text.matchAll(/^Subject: (msg \d+)/gm)].map((m) => m[1]);
      assert.equal(listed.length, DIGEST_ITEMS_MAX);
      assert.equal(listed[0], `msg ${n - 1}`, 'newest first');
      assert.equal(listed.at(-1), 'msg 010', 'the oldest ten are left out');
      assert.deepEqual(listed, [...listed].sort().reverse(), 'in order, newest first');
      assert.match(text, new RegExp(`^${n} message\\(s\\) addressed to you .* Newest first\\.$`, 'm'));
      assert.match(text, /^10 older message\(s\) are not listed here: a report lists the newest 500\. Your administrator can list them all \(moat quarantine digest --all --dry-run --to ann@example\.com\)\./m);
      assert.match(mail.raw.toString('latin1'), /^Subject: Quarantine report for ann@example\.com: 510 message\(s\)/m);
    });

    it('reads the state file written before progress was kept as a complete run', async () => {
      const store = g.gateway.runtime.queue;
      await quarantine(store, [{ to: 'ann@example.com', subject: 'before' }]);
      await sleep(20);
      const last = Date.now();
      await sleep(20);
      await quarantine(store, [{ to: 'bob@example.com', subject: 'after' }]);
      const file = path.join(g.dataDir, DIGEST_STATE_FILE);
      for (const old of [{ last_run: last, at: new Date(last).toISOString() }, { last }]) {
        writeFileSync(file, JSON.stringify(old));
        assert.equal(readLastDigest(g.dataDir), last);
        const dry = await runDigest(deps, { dryRun: true });
        assert.equal(dry.since, last);
        assert.deepEqual(dry.digests.map((d) => [d.to, d.listed?.map((m) => m.subject)]), [['bob@example.com', ['after']]]);
      }
      const report = await runDigest(deps);
      assert.deepEqual(report.digests.map((d) => d.to), ['bob@example.com']);
      const state = JSON.parse(readFileSync(file, 'utf8'));
      assert.ok(state.last_run > last && state.run === undefined, JSON.stringify(state));
    });
  });

  describe('moat quarantine digest on the files, no gateway', () => {
    let dir: string;
    beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'moat-digest-progress-')); });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('SIGKILLed part way, then run again: every recipient has exactly one digest in the queue for the period', async () => {
      const dataDir = path.join(dir, 'data');
      const config = path.join(dir, 'mailmoat.yaml');
      writeFileSync(config, `data_dir: ${dataDir}\ndomains: [example.com]\nserver:\n  hostname: mx.test\n`);
      const rcpts = users(1500);
      const store = new QueueStore(dataDir);
      try { await quarantine(store, rcpts.map((to) => ({ to, subject: 'hold-me' }))); } finally { store.close(); }

      const child = spawn(process.execPath, [MOAT, 'quarantine', 'digest', '--config', config], { stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      const queueDir = path.join(dataDir, 'queue');
      await until(() => readdirSync(queueDir).filter((f) => f.endsWith('.json')).length >= 300, 30_000, '300 digests queued');
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL', 'killed while it ran');
      const cut = queuedDigests(dataDir).length;
      assert.ok(cut < rcpts.length, `killed part way (${cut} queued)`);
      const period = readDigestState(dataDir).run;
      assert.ok(period, 'the period was on disk before the first digest');

      const { stdout } = await execFileP(process.execPath, [MOAT, 'quarantine', 'digest', '--config', config, '--json'], { timeout: 60_000 });
      const report = JSON.parse(stdout) as { digests: Array<{ to: string; error?: string }>; resumed?: number };
      assert.deepEqual(report.digests.filter((d) => d.error), []);
      assert.equal((report.resumed ?? 0) + report.digests.length, rcpts.length, 'the rest of the period, no more');
      assertOncePerRecipient(queuedDigests(dataDir), rcpts);
      const emls = readdirSync(queueDir).filter((f) => f.endsWith('.eml')).length;
      assert.equal(emls, rcpts.length, 'no message file left without its state');
      assert.deepEqual(readDigestState(dataDir), { last: period.until });

      const again = await execFileP(process.execPath, [MOAT, 'quarantine', 'digest', '--config', config, '--json'], { timeout: 60_000 });
      assert.deepEqual(JSON.parse(again.stdout).digests, [], 'the period is done: nothing new to send');
    });
  });

  it('a gateway killed while it relays its scheduled digests sends each recipient one digest after its restart', async function () {
    this.timeout(120_000);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mm-digest-kill-'));
    const rcpts = users(600);
    const store = new QueueStore(dataDir);
    await quarantine(store, rcpts.map((to) => ({ to, subject: 'x' })));
    store.close();
    const sink = await startSmarthost();
    const config = { smarthost: `smtp://127.0.0.1:${sink.port}`, quarantine_digest: { enabled: true, interval: '1h' } };
    try {
      const first = await spawnGateway({ dataDir, config });
      // Killed while digests are queued, recorded and relayed at once.
      while (sink.messages.length < 150) await sleep(5);
      await first.kill('SIGKILL');
      const second = await spawnGateway({ dataDir, config });
      try {
        await until(() => new Set(sink.messages.map((m) => m.rcptTo[0])).size === rcpts.length, 60_000, 'every recipient served');
        await sleep(1500);
      } finally { await second.kill(); }
      // A digest the kill cut off mid-transaction may arrive twice as the same message (SMTP's at-least-once);
      // a second digest built anew for the same period would have another Message-ID.
      const built = new Map<string, Set<string>>();
      for (const m of sink.messages) {
        const id = /^Message-ID: (.*)$/m.exec(m.raw.toString('latin1'))![1];
        built.set(m.rcptTo[0], (built.get(m.rcptTo[0]) ?? new Set()).add(id));
      }
      assert.deepEqual([...built].filter(([, ids]) => ids.size > 1).map(([a]) => a), [], 'no recipient got two digests');
      assert.equal(built.size, rcpts.length);
    } finally {
      await sink.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

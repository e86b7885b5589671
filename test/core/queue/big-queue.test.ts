// A big queue (a smarthost down for a day): the scheduler's work per message must not grow with the queue's size,
// or a retry round, a flush or a `delete --to` holds the event loop (and every SMTP client) for seconds.
// The relay here is a stand-in that only answers; what is measured is the delivery queue's own scheduling.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FOLDER_READS_IN_FLIGHT, QueueStore } from '../../../core/queue/queue-store.ts';
import { loadSealKey, sealEnvelope } from '../../../core/queue/envelope-seal.ts';
import { DeliveryQueue } from '../../../core/queue/delivery-queue.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { Relay, RecipientResult } from '../../../core/relay/types.ts';
import type { Logger } from '../../../core/log/types.ts';
import { longestStall } from '../../helpers/event-loop-stall.ts';

const N = 20_000;
const quiet: Logger = { child: () => quiet, debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;

function entry(i: number, nextAttemptAt: number): QueueEntry {
  return {
    id: `0${String(i).padStart(8, '0')}00beef`, mailFrom: 'a@client.example', recipients: [{ address: `u${i}@example.net`, status: 'pending' }],
    prepend: '', remove: [], receivedAt: Date.now(), size: 10, client: { ip: '192.0.2.1' }, authenticated: false,
    attempts: 1, nextAttemptAt, history: [],
  };
}

describe('queue: big queue scheduling', function () {
  this.timeout(30_000);
  let dir: string;
  let queue: DeliveryQueue | undefined;
  let release = () => {};
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bigq-')); });
  afterEach(async () => { release(); await queue?.stop(); queue = undefined; rmSync(dir, { recursive: true, force: true }); });

  it(`a retry round of ${N} messages waiting for a smarthost that is still down does not hold the event loop`, async () => {
    const store = new QueueStore(dir);
    await store.takeOverJournal();
    let attempts = 0;
    const down: Relay = {
      name: 'down', destination: () => 'smarthost', close: async () => undefined,
      send: async (_e, rcpts): Promise<RecipientResult[]> => { attempts++; return rcpts.map((address) => ({ address, ok: false, permanent: false, reply: 'connection refused', hostFailure: true })); },
    };
    queue = new DeliveryQueue(store, down, { retry_schedule: [3_600_000], lifetime: 86_400_000, concurrency: 20 }, quiet);
    // The oldest message finds the smarthost down and becomes its probe; the others all fall due at one moment.
    const probe = entry(0, Date.now());
    await store.enqueue(probe, Buffer.from('Subject: x\r\n\r\nx\r\n'));
    queue.add(probe);
    await queue.idle();
    assert.equal(attempts, 1);
    const dueAt = Date.now() + 300;
    for (let i = 1; i <= N; i++) queue.add(entry(i, dueAt));
    const stall = await longestStall(() => new Promise((r) => setTimeout(r, 500)), 5);
    // They wait for the probe (no attempt each) rather than hammer the host; before the fix this round took ~2.4 s.
    assert.equal(attempts, 1);
    assert.equal(queue.size, N + 1);
    assert.ok(stall < 1000, `the event loop stalled ${stall.toFixed(0)} ms`);
  });

  it(`deleting 5,000 of ${N} due messages one by one (moat queue delete --to) takes milliseconds, not seconds`, async () => {
    const store = new QueueStore(dir);
    await store.takeOverJournal();
    const stuck = new Promise<void>((r) => { release = r; });
    // One delivery hangs, so the rest stay due in the ready list, as behind a slow smarthost.
    const slow: Relay = {
      name: 'slow', close: async () => undefined,
      send: async (_e, rcpts) => { await stuck; return rcpts.map((address) => ({ address, ok: false, permanent: false, reply: '451 later' })); },
    };
    queue = new DeliveryQueue(store, slow, { retry_schedule: [3_600_000], lifetime: 86_400_000, concurrency: 1 }, quiet);
    for (let i = 0; i < N; i++) queue.add(entry(i, 0));
    const started = performance.now();
    for (let i = N - 5_000; i < N; i++) assert.ok(queue.forget(entry(i, 0).id));
    const ms = performance.now() - started;
    assert.equal(queue.size, N - 5_000);
    // Before the fix each removal scanned the list: ~1.2 s here, ~10 s for 5,000 of 50,000.
    assert.ok(ms < 300, `5,000 removals took ${ms.toFixed(0)} ms`);
  });
});

describe('queue: reading a big queue folder (recovery, moat queue list)', function () {
  this.timeout(30_000);
  const PAIRS = 1_000, SEALED = 300, JOURNALED = 50, ALL = PAIRS + SEALED + JOURNALED;
  let dir: string;
  before(async () => {
    // What a queue holds after a long outage: deferred messages (.eml and .json), large ones not yet tried (sealed
    // .eml only) and fresh small ones in the journal. Written directly: fsyncs would only slow the test down.
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bigq-read-'));
    const store = new QueueStore(dir);
    await store.takeOverJournal();
    const key = loadSealKey(path.join(dir, 'queue.key'));
    const body = Buffer.from('Subject: x\r\n\r\nx\r\n');
    for (let i = 0; i < PAIRS + SEALED; i++) {
      const e = { ...entry(i, Date.now() + 3_600_000), size: body.length };
      if (i < PAIRS) {
        writeFileSync(store.emlPath(e.id), body);
        writeFileSync(store.jsonPath(e.id), JSON.stringify({ ...e, attempts: 3, lastReply: '451 later' }));
      } else writeFileSync(store.emlPath(e.id), Buffer.concat([body, sealEnvelope(e, key)]));
    }
    await Promise.all(Array.from({ length: JOURNALED }, (_, k) => store.commitJournaled(entry(PAIRS + SEALED + k, 0), body)));
    store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('list() finds what reading each message by itself finds, and recovery returns the same', async () => {
    const reader = new QueueStore(dir); // not the owner: it reads the journal's segments, as moat queue does
    const listed = await reader.list();
    assert.equal(listed.length, ALL);
    const oneByOne = [];
    for (const e of listed) oneByOne.push(await reader.load(e.id));
    assert.deepEqual(listed, oneByOne);
    assert.equal(listed.filter((e) => e.attempts === 3).length, PAIRS, 'a state file wins over the seal');
    reader.close();

    // Every file here belongs to a message: recovery removes nothing and returns the same messages.
    const owner = new QueueStore(dir);
    const r = await owner.recover();
    owner.close();
    assert.deepEqual(r.entries, listed);
    assert.equal(r.orphans, 0);
  });

  const storeTs = path.resolve(import.meta.dirname, '../../../core/queue/queue-store.ts');
  /** list() then recover() in a child process limited to `files` open files. */
  async function underUlimit(files: number): Promise<unknown> {
    const script = `import { QueueStore } from ${JSON.stringify(storeTs)};
      const s = new QueueStore(process.argv[1]);
      const listed = (await s.list()).length;
      const r = await s.recover();
      console.log(JSON.stringify({ listed, recovered: r.entries.length, broken: r.broken.length, orphans: r.orphans }));`;
    const { stdout } = await promisify(execFile)('sh', ['-c', `ulimit -n ${files} && exec "$0" --input-type=module -e "$1" "$2"`, process.execPath, script, dir]);
    return JSON.parse(stdout);
  }

  it(`keeps at most ${FOLDER_READS_IN_FLIGHT} files open: list and recovery work under ulimit -n 64`, async () => {
    // The sealed envelopes are read through open file handles; read all at once, they would need a file each.
    assert.ok(SEALED > 64 && FOLDER_READS_IN_FLIGHT + 30 < 64);
    assert.deepEqual(await underUlimit(64), { listed: ALL, recovered: ALL, broken: 0, orphans: 0 });
  });

  it('out of file descriptors, a read waits for one instead of taking the message for a torn one and deleting it', async () => {
    // Node itself holds about 23 files: the reads in flight run out of descriptors at once.
    assert.deepEqual(await underUlimit(28), { listed: ALL, recovered: ALL, broken: 0, orphans: 0 });
    assert.equal(readdirSync(path.join(dir, 'queue')).length, PAIRS * 2 + SEALED);
  });
});

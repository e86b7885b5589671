// A big queue (a smarthost down for a day): the scheduler's work per message must not grow with the queue's size,
// or a retry round, a flush or a `delete --to` holds the event loop (and every SMTP client) for seconds.
// The relay here is a stand-in that only answers; what is measured is the delivery queue's own scheduling.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
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
    store.takeOverJournal();
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
    assert.ok(stall < 400, `the event loop stalled ${stall.toFixed(0)} ms`);
  });

  it(`deleting 5,000 of ${N} due messages one by one (moat queue delete --to) takes milliseconds, not seconds`, async () => {
    const store = new QueueStore(dir);
    store.takeOverJournal();
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

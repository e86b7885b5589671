// What the scheduler does for a probe round must be what is due, not the backlog behind it: with 20,000 messages
// waiting behind 300 destinations that are down, a round of 300 probes used to look up every waiting message's
// destinations once per down destination (300 × 20,000 lookups, the `promoteDue` of a CPU profile at 55 s of 120).
// Counted here by the relay's destination() lookups, which every such look makes; the relay is a stand-in that only
// answers, as in big-queue.test.ts, since what is counted is the queue's own scheduling.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { DeliveryQueue } from '../../../core/queue/delivery-queue.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { Relay, RecipientResult } from '../../../core/relay/types.ts';
import type { Logger } from '../../../core/log/types.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const N = 20_000;
const D = 300;
/** Counts the `deferred` lines, one per message that starts to wait; says nothing. */
let deferredLines = 0;
const quiet: Logger = { child: () => quiet, debug() {}, info(msg: string) { if (msg === 'deferred') deferredLines++; }, warn() {}, error() {} } as unknown as Logger;
const domainOf = (a: string) => a.slice(a.indexOf('@') + 1);

function entry(i: number, nextAttemptAt: number, attempts: number): QueueEntry {
  return {
    id: `0${String(i).padStart(8, '0')}00beef`, mailFrom: 'a@client.example', recipients: [{ address: `u${i}@d${i % D}.example`, status: 'pending' }],
    prepend: '', remove: [], receivedAt: Date.now(), size: 10, client: { ip: '192.0.2.1' }, authenticated: false,
    attempts, nextAttemptAt, history: [],
  };
}

describe('queue: scheduling work follows what is due', function () {
  this.timeout(60_000);
  let dir: string;
  let queue: DeliveryQueue | undefined;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-sched-cost-')); });
  afterEach(async () => { await queue?.stop(); queue = undefined; rmSync(dir, { recursive: true, force: true }); });

  it(`a probe round of ${D} down destinations with ${N} messages waiting behind them looks at the probes only`, async () => {
    const store = new QueueStore(dir);
    await store.takeOverJournal();
    let lookups = 0;
    const sent: string[] = [];
    const down: Relay = {
      name: 'down', close: async () => undefined,
      destination: (a) => { lookups++; return domainOf(a); },
      send: async (e, rcpts): Promise<RecipientResult[]> => { sent.push(e.id); return rcpts.map((address) => ({ address, ok: false, permanent: false, reply: 'connection refused', hostFailure: true })); },
    };
    queue = new DeliveryQueue(store, down, { retry_schedule: [1500], lifetime: 86_400_000, concurrency: 20 }, quiet);
    // One message per destination, tried at once: each destination is found down and held, its message its probe.
    const probes: QueueEntry[] = [];
    for (let d = 0; d < D; d++) {
      const e = entry(d, Date.now(), 0);
      await store.enqueue(e, Buffer.from('Subject: x\r\n\r\nx\r\n'));
      probes.push(e);
    }
    for (const e of probes) queue.add(e);
    await queue.idle();
    assert.equal(sent.length, D);

    // The backlog, deferred once already, falls due a moment later: each message joins its destination's list (its
    // `deferred` line says so), none is tried.
    deferredLines = 0;
    const dueAt = Date.now() + 200;
    for (let i = D; i < D + N; i++) queue.add(entry(i, dueAt, 1));
    await waitUntil(() => `the backlog waiting (${deferredLines} of ${N})`, () => deferredLines === N);
    assert.equal(sent.length, D, 'no message of the backlog tried');
    deferredLines = 0;

    // The probe round, a retry step after the first tries: each destination's oldest message tries it again.
    lookups = 0;
    await waitUntil(() => `the probe round (${sent.length - D} of ${D} probes)`, () => sent.length === 2 * D);
    await queue.idle();
    assert.deepEqual(new Set(sent.slice(D)), new Set(probes.map((e) => e.id)), 'the probes are the oldest messages');
    console.log(`      ${lookups} destination lookups for a round of ${D} probes with ${N} messages waiting`);
    // A few per probe (its recipients' destinations, when it is taken, tried and deferred); before: 300 × 20,000.
    assert.ok(lookups < 20 * D, `${lookups} lookups`);
    assert.equal(queue.size, D + N);
    // The probes' own lines only.
    assert.equal(deferredLines, D);
  });
});

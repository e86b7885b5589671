// What the store holds of a period, and for how long: a forged flood's long records are counted, not kept as rows;
// every key a record writes expires when its period's reports stop being tried (the day, its end, two more days at a
// 24h interval); and a period past that is forgotten, reported or not, by the scheduler or by the sweep of a gateway
// that sends no reports. Clock and store are the test's, as in report-schedule.test.ts.
import assert from 'node:assert/strict';
import type { Logger } from '../../../core/index.ts';
import { MemoryStore } from '../../../core/store/memory-store.ts';
import { GRACE_MS } from '../../../plugins/dmarc/report-schedule.ts';
import { DAY, DAY_END, DAY_START, intervalPasses, policy, quiet, record, reporter, T0, type Queued } from './report-bed.ts';

/** When the records of the day of T0 are no longer kept: the day, the day its report is first tried, two retries. */
const RETENTION_END = DAY_START + 4 * DAY;

async function keysOf(store: MemoryStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const [k] of store.scan(prefix)) keys.push(k);
  return keys;
}

describe('dmarc report store: what a period holds and for how long', () => {
  it('counts a record of more than 512 bytes (a forger\'s long names) without keeping it as a row', async () => {
    const store = new MemoryStore();
    const { reports } = reporter(store, { now: T0 }, []);
    const forged = { ...record('192.0.2.7'), envelopeFrom: `${'x'.repeat(240)}.example`, spfAuth: { domain: `${'y'.repeat(240)}.example`, scope: 'mfrom' as const, result: 'fail' } };
    assert.equal(await reports.record(T0, policy, forged), 'over-records');
    assert.equal(await reports.record(T0, policy, record('192.0.2.1')), 'recorded');
    const read = await reports.read(DAY_START, 'sender.test');
    assert.deepEqual(read.rows.map((r) => r.record.sourceIp), ['192.0.2.1']);
    assert.equal(read.over, 1);
  });

  it('writes every key of a record to expire when its period is no longer tried, whenever in the period it is written', async () => {
    const store = new MemoryStore();
    const { reports } = reporter(store, { now: T0 }, []);
    const late = DAY_START + 20 * 3_600_000;
    await reports.record(T0, policy, record('192.0.2.1'));
    await reports.record(late, policy, record('192.0.2.2'));
    const keys = await keysOf(store, `dmarc:rua:${DAY_START}:`);
    assert.ok(keys.length >= 6, keys.join(' '));
    for (const k of keys) {
      const ttl = await store.ttl(k);
      // Written at T0 or later, each expires RETENTION_END - T0 or RETENTION_END - late from its writing.
      assert.ok(ttl > 0 && ttl <= RETENTION_END - T0, `${k}: ${ttl}`);
      assert.ok(Math.abs(ttl - (RETENTION_END - T0)) < 5000 || Math.abs(ttl - (RETENTION_END - late)) < 5000, `${k}: ${ttl}`);
    }
  });

  it('tries a report that cannot be queued at the day\'s end and at the next two, then forgets the day', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const warned: string[] = [];
    const log: Logger = { ...quiet, warn(msg: string) { warned.push(msg); }, child() { return log; } };
    let attempts = 0;
    const a = reporter(store, clock, [], { log, queue: async () => { attempts++; throw new Error('queue disk full'); } });
    await a.reports.record(T0, policy, record('192.0.2.1'));
    for (let i = 0; i < 4; i++) {
      clock.now = DAY_END + GRACE_MS + i * DAY;
      await intervalPasses(store, DAY_START);
      await a.scheduler.tick();
    }
    assert.equal(attempts, 3, 'at the end and two intervals later');
    assert.ok(clock.now >= RETENTION_END);
    assert.deepEqual(await a.reports.periods(), []);
    assert.deepEqual(await keysOf(store, `dmarc:rua:${DAY_START}:`), [], 'nothing of the day is left');
    assert.ok(warned.includes('dmarc reporting: a period past its retention was forgotten, its reports not all sent'), warned.join('\n'));
  });

  it('forgets records nobody reported once past their retention (the sweep of a gateway that sends no reports)', async () => {
    const store = new MemoryStore();
    const sent: Queued[] = [];
    const { reports } = reporter(store, { now: T0 }, sent);
    for (const ip of ['192.0.2.1', '192.0.2.2']) await reports.record(T0, policy, record(ip));
    assert.deepEqual(await reports.sweep(RETENTION_END - 1), []);
    assert.equal((await reports.read(DAY_START, 'sender.test')).rows.length, 2, 'kept until then');
    assert.deepEqual(await reports.sweep(RETENTION_END), [DAY_START]);
    assert.deepEqual(await reports.periods(), []);
    assert.deepEqual(await keysOf(store, `dmarc:rua:${DAY_START}:`), []);
    assert.equal(sent.length, 0);
  });
});

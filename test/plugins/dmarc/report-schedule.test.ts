// The day's records in the state store and the interval's end: two reporters over one store (as two gateways over one
// Redis), with their clocks set by the test, so a UTC day can end at once. The store is the core's in-process one,
// which passes the same contract suite as the embedded file and Redis; what would be mailed is kept in a list.
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../core/store/memory-store.ts';
import { GRACE_MS } from '../../../plugins/dmarc/report-schedule.ts';
import { intervalPasses, policy, record, reporter, T0, xmlOf, type Queued } from './report-bed.ts';

describe('dmarc report store and interval end', () => {
  it('keeps one record per distinct message group with its count, across reporters sharing the store', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const a = reporter(store, clock, []);
    const b = reporter(store, clock, []);
    await a.reports.record(T0, policy, record('192.0.2.1'));
    await b.reports.record(T0 + 1000, policy, record('192.0.2.1'));
    await b.reports.record(T0 + 2000, policy, record('192.0.2.2'));
    const p = a.reports.periodOf(T0);
    assert.equal(p, Date.UTC(2026, 10, 21), 'a 24h interval is the UTC day');
    const read = await a.reports.read(p, 'sender.test');
    assert.deepEqual(read.rows.map((r) => [r.record.sourceIp, r.count]).sort(), [['192.0.2.1', 2], ['192.0.2.2', 1]]);
    assert.deepEqual(read.policy, policy);
  });

  it('sends the day\'s report once when two reporters see the day end, then forgets the day', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const sent: Queued[] = [];
    const a = reporter(store, clock, sent);
    const b = reporter(store, clock, sent);
    for (let i = 0; i < 3; i++) await a.reports.record(T0, policy, record('192.0.2.1'));
    await a.scheduler.tick();
    assert.equal(sent.length, 0, 'nothing before the day ends');
    clock.now = Date.UTC(2026, 10, 22) + GRACE_MS;
    await Promise.all([a.scheduler.tick(), b.scheduler.tick()]);
    await Promise.all([a.scheduler.tick(), b.scheduler.tick()]);
    assert.equal(sent.length, 1, 'one report for the two reporters');
    assert.deepEqual(sent[0].to, ['dmarc@sender.test']);
    const xml = await xmlOf(sent[0]);
    assert.match(xml, /<date_range><begin>1795219200<\/begin><end>1795305599<\/end><\/date_range>/);
    assert.match(xml, /<source_ip>192\.0\.2\.1<\/source_ip><count>3<\/count>/);
    assert.deepEqual(await a.reports.periods(), [], 'the day is forgotten once reported');
  });

  it('keeps a day whose report could not be queued, and tries it again an interval later', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const sent: Queued[] = [];
    let fail = true;
    const a = reporter(store, clock, sent, {
      queue: async (to, data) => { if (fail) throw new Error('queue disk full'); sent.push({ to, data }); return 'q'; },
    });
    const failing = a.scheduler;
    await a.reports.record(T0, policy, record('192.0.2.1'));
    clock.now = Date.UTC(2026, 10, 22) + GRACE_MS;
    await failing.tick();
    assert.equal(sent.length, 0);
    fail = false;
    await failing.tick();
    assert.equal(sent.length, 0, 'not again within the interval');
    assert.deepEqual(await a.reports.periods(), [Date.UTC(2026, 10, 21)], 'the records are kept');
    // An interval later: the wait the failure set (its expiry) has passed.
    await intervalPasses(store, Date.UTC(2026, 10, 21));
    await failing.tick();
    assert.equal(sent.length, 1);
    assert.match(await xmlOf(sent[0]), /<count>1<\/count>/);
  });

  it('caps the records of a domain and says in the report how many messages were not itemised', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const sent: Queued[] = [];
    const a = reporter(store, clock, sent, { cfg: { max_records: 2 } });
    const outcomes = [];
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.1']) outcomes.push(await a.reports.record(T0, policy, record(ip)));
    assert.deepEqual(outcomes, ['recorded', 'recorded', 'over-records', 'over-records', 'recorded']);
    const answer = await a.scheduler.build(await a.reports.periods(), T0 + 60_000);
    assert.equal(answer.reports[0].records, 2);
    assert.equal(answer.reports[0].messages, 5);
    const xml = await xmlOf(sent[0]);
    assert.equal(xml.match(/<record>/g)?.length, 2);
    assert.match(xml, /<error>2 messages not itemised: past 2 distinct records for this domain, or in records of more than 512 bytes<\/error>/);
  });

  it('reports the day so far on request, and the rest of the day from there at its end', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const sent: Queued[] = [];
    const a = reporter(store, clock, sent);
    await a.reports.record(T0, policy, record('192.0.2.1'));
    await a.scheduler.build(await a.reports.periods(), T0 + 60_000);
    await a.reports.record(T0 + 120_000, policy, record('192.0.2.1'));
    await a.reports.record(T0 + 120_000, policy, record('192.0.2.1'));
    clock.now = Date.UTC(2026, 10, 22) + GRACE_MS;
    await a.scheduler.tick();
    assert.equal(sent.length, 2);
    const second = await xmlOf(sent[1]);
    assert.match(second, new RegExp(`<begin>${(T0 + 60_000) / 1000}</begin><end>1795305599</end>`), 'begins where the first ended');
    assert.match(second, /<count>2<\/count>/, 'counts only what came after the first');
  });
});

// Reports are delivered destination by destination: a report queued to one rua= address is never sent it again, and
// one a destination could not have for now (the queue failed, the lookup of its authorisation timed out or failed at
// the server) is sent it at the next interval, the same report (id and content). A destination refused for good (no
// authorising record) is settled too. The clock and the store are the test's, as in report-schedule.test.ts; the
// authorisation lookups go through the gateway's resolver to a DNS server on loopback.
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../core/store/memory-store.ts';
import { createResolver } from '../../../core/dns/index.ts';
import { GRACE_MS } from '../../../plugins/dmarc/report-schedule.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { DAY_END, DAY_START, fileOf, intervalPasses, policy, record, reporter, T0, xmlOf, type Queued } from './report-bed.ts';

const reportIdOf = (xml: string) => /<report_id>([^<]+)<\/report_id>/.exec(xml)?.[1];

describe('dmarc reports: each destination settled once', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        // reports.test takes sender.test's reports (RFC 7489 7.1); nothing at all authorises stranger.test.
        'reports.test': { 'sender.test._report._dmarc': { TXT: ['v=DMARC1'] } },
        'stranger.test': { '@': { TXT: ['v=spf1 -all'] } },
      },
    });
  });
  after(async () => { await dns?.stop(); });
  beforeEach(async () => { await dns.clearBehaviours(); });

  it('sends the second address the same report an interval after its queueing failed, and the first nothing more', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const sent: Queued[] = [];
    let refuse = 'second@sender.test';
    const a = reporter(store, clock, sent, {
      queue: async (to, data) => {
        if (to.includes(refuse)) throw new Error('queue disk full');
        sent.push({ to, data });
        return `q${sent.length}`;
      },
    });
    const twoAddresses = { ...policy, rua: 'mailto:first@sender.test,mailto:second@sender.test' };
    for (let i = 0; i < 3; i++) await a.reports.record(T0, twoAddresses, record('192.0.2.1'));
    clock.now = DAY_END + GRACE_MS;
    const first = await a.scheduler.build(await a.reports.periods(), clock.now);
    assert.deepEqual(sent.map((q) => q.to), [['first@sender.test']]);
    assert.equal(first.failed.length, 1);
    assert.match(first.failed[0].error, /^report \S+ not sent to second@sender\.test: not queued: queue disk full$/);
    assert.deepEqual(await a.reports.periods(), [DAY_START], 'the day is kept for the address left');
    // Its records are in the report now: only the report waits.
    assert.deepEqual((await a.reports.read(DAY_START, 'sender.test')).rows, []);
    const keys: string[] = [];
    for await (const [k] of store.scan(`dmarc:rua:${DAY_START}:`)) keys.push(k);
    assert.deepEqual(keys.filter((k) => /:(?:rows|n:[0-9a-f]+)$/.test(k)), [], keys.join(' '));
    assert.ok(keys.some((k) => k.endsWith(':pending')), keys.join(' '));

    // Within the interval nothing is tried; an interval later, only the address left, with the report it missed.
    await a.scheduler.tick();
    assert.equal(sent.length, 1);
    refuse = '';
    await intervalPasses(store, DAY_START);
    clock.now += 86_400_000;
    await a.scheduler.tick();
    assert.deepEqual(sent.map((q) => q.to), [['first@sender.test'], ['second@sender.test']]);
    const [xml1, xml2] = [await xmlOf(sent[0]), await xmlOf(sent[1])];
    assert.ok(reportIdOf(xml1), xml1);
    assert.equal(reportIdOf(xml2), reportIdOf(xml1), 'the same report id');
    assert.deepEqual(await fileOf(sent[1]), await fileOf(sent[0]), 'the same file, byte for byte');
    assert.match(xml2, /<count>3<\/count>/);
    assert.deepEqual(await a.reports.periods(), [], 'the day is forgotten once both have it');
    await intervalPasses(store, DAY_START);
    clock.now += 86_400_000;
    await a.scheduler.tick();
    assert.equal(sent.length, 2, 'neither is sent it again');
  });

  for (const [failure, behaviour] of [['times out', { drop: true }], ['fails at the server (SERVFAIL)', { rcode: 'SERVFAIL' as const }]] as const) {
    it(`keeps the report for an external destination whose authorisation lookup ${failure}, and sends it there an interval later`, async () => {
      const store = new MemoryStore();
      const clock = { now: T0 };
      const sent: Queued[] = [];
      const resolver = createResolver({ servers: [dns.address], timeout: 300, tries: 1 });
      const a = reporter(store, clock, sent, { dns: resolver });
      const withExternal = { ...policy, rua: 'mailto:dmarc@sender.test,mailto:agg@reports.test' };
      const refused = { ...policy, domain: 'other.test', rua: 'mailto:agg@stranger.test' };
      await a.reports.record(T0, withExternal, record('192.0.2.1'));
      await a.reports.record(T0, refused, { ...record('192.0.2.9'), headerFrom: 'other.test' });
      await dns.setBehaviour('sender.test._report._dmarc.reports.test', behaviour);
      clock.now = DAY_END + GRACE_MS;
      const first = await a.scheduler.build(await a.reports.periods(), clock.now);
      assert.deepEqual(sent.map((q) => q.to), [['dmarc@sender.test']], 'the own-domain address has it; stranger.test refuses it for good');
      assert.deepEqual(first.failed.map((f) => f.domain), ['sender.test']);
      assert.match(first.failed[0].error, /not sent to agg@reports\.test: external destination not checked: the lookup of sender\.test\._report\._dmarc\.reports\.test failed/);
      const other = first.reports.find((r) => r.domain === 'other.test');
      assert.match(other?.skipped[0]?.why ?? '', /^external destination not authorised: no TXT record at other\.test\._report\._dmarc\.stranger\.test$/);

      await dns.clearBehaviours();
      await intervalPasses(store, DAY_START);
      clock.now += 86_400_000;
      await a.scheduler.tick();
      assert.deepEqual(sent.map((q) => q.to), [['dmarc@sender.test'], ['agg@reports.test']], 'stranger.test is not asked again');
      assert.equal(reportIdOf(await xmlOf(sent[1])), reportIdOf(await xmlOf(sent[0])));
      assert.deepEqual(await fileOf(sent[1]), await fileOf(sent[0]));
      assert.deepEqual(await a.reports.periods(), []);
    });
  }

  it('holds the records recorded after a report sent on request while that report waits for a destination', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const sent: Queued[] = [];
    let refuse = true;
    const a = reporter(store, clock, sent, {
      queue: async (to, data) => { if (refuse && to.includes('second@sender.test')) throw new Error('queue disk full'); sent.push({ to, data }); return 'q'; },
    });
    const twoAddresses = { ...policy, rua: 'mailto:first@sender.test,mailto:second@sender.test' };
    await a.reports.record(T0, twoAddresses, record('192.0.2.1'));
    await a.scheduler.build(await a.reports.periods(), T0 + 60_000);
    await a.reports.record(T0 + 120_000, twoAddresses, record('192.0.2.2'));
    const again = await a.scheduler.build(await a.reports.periods(), T0 + 180_000);
    assert.equal(sent.length, 1, 'no second report while the first is owed');
    assert.deepEqual(again.reports.map((r) => r.records), [1]);
    // The day ends with the first report still owed to the second address: it is sent that, and the rest waits.
    refuse = false;
    clock.now = DAY_END + GRACE_MS;
    await a.scheduler.tick();
    assert.deepEqual(sent.map((q) => q.to), [['first@sender.test'], ['second@sender.test'], ['first@sender.test'], ['second@sender.test']]);
    const ids = await Promise.all(sent.map(async (q) => reportIdOf(await xmlOf(q))));
    assert.equal(ids[1], ids[0]);
    assert.equal(ids[3], ids[2]);
    assert.notEqual(ids[2], ids[0]);
    assert.match(await xmlOf(sent[2]), /<source_ip>192\.0\.2\.2<\/source_ip><count>1<\/count>/);
    assert.doesNotMatch(await xmlOf(sent[2]), /192\.0\.2\.1/, 'what the first report counted is not counted again');
  });
});

// What a long-running gateway keeps per client must be dropped again: the unit below holds the structure that grew,
// and a short run of the soak harness (scripts/bench/soak.ts) holds the counts its mixed load must leave behind.
import assert from 'node:assert/strict';
import { ConnectionLimits } from '../../../core/smtp/connection-limits.ts';
import { runSoak } from '../../../scripts/bench/soak.ts';

describe('long-running stability', () => {
  it('forgets expired error blocks of addresses that never come back', () => {
    let now = 1_000_000;
    const limits = new ConnectionLimits(() => now);
    // 20,000 spam bots, each running into limits.max_errors once, one every 10 ms, each blocked for 5 s.
    for (let i = 0; i < 20_000; i++) {
      limits.block(`198.18.${i >> 8 & 255}.${i & 255}`, 5000);
      now += 10;
    }
    // At most 500 blocks are live at once; expired ones may wait for a sweep, never pile up.
    assert.ok(limits.tracked.blocked <= 2 * Math.max(1024, 500), `blocked addresses held: ${limits.tracked.blocked}`);
    // A block still running is kept, an expired one no longer refuses.
    assert.match(limits.open('198.18.78.31', { total: 10, perIp: 10 }) ?? '', /Too many errors/);
    assert.equal(limits.open('198.18.0.1', { total: 10, perIp: 10 }), undefined);
  });

  it('keeps a block that has not expired through a sweep', () => {
    let now = 0;
    const limits = new ConnectionLimits(() => now);
    limits.block('192.0.2.1', 3_600_000);
    for (let i = 0; i < 5000; i++) { limits.block(`198.51.100.${i & 255}:${i}`, 1); now += 2; }
    assert.match(limits.open('192.0.2.1', { total: 10, perIp: 10 }) ?? '', /Too many errors/);
  });

  it('leaves no connection, address or file behind after a short mixed load on a real gateway', async function () {
    this.timeout(60_000);
    const r = await runSoak({ minutes: 0.25, concurrency: 8, sampleSeconds: 5, warmupMinutes: 0 });
    assert.equal(r.surprises, 0, r.firstSurprise);
    assert.ok(r.messages > 0, 'no message was delivered');
    assert.ok(r.sessions.idle > 0 && r.sessions.abort > 0 && r.sessions.errors > 0 && r.sessions.refused > 0, JSON.stringify(r.sessions));
    // Every session of the load has ended (idle ones by the gateway's timeout): none may still be counted open.
    assert.equal(r.openAfter, 0);
    // No socket of the load is left: hundreds of sessions ran, and only the relay's pooled connections to the sink
    // and the queue's open journal segment may have been added since the start.
    assert.ok(r.fdsAfter - r.fdsAtStart < 20, `fds before the load ${r.fdsAtStart}, after it ${r.fdsAfter}`);
  });
});

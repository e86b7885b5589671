// The scan limiter: never more tasks in flight than allowed, and a bounded wait for a slot.
import assert from 'node:assert/strict';
import { Limiter } from '../../../plugins/clamav/limiter.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('clamav scan limiter', () => {
  it('runs at most `max` tasks at once and all of them in the end', async () => {
    const lim = new Limiter(2);
    let now = 0;
    let peak = 0;
    const results = await Promise.all(Array.from({ length: 7 }, (_, i) => lim.run(async () => {
      now++; peak = Math.max(peak, now);
      await sleep(10);
      now--;
      return i;
    }, 1000, () => new Error('timeout'))));
    assert.deepEqual(results, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(peak, 2);
    assert.equal(lim.inFlight, 0);
  });

  it('fails a caller that waits past its limit, and frees the slot after a failing task', async () => {
    const lim = new Limiter(1);
    const long = lim.run(() => sleep(150), 1000, () => new Error('timeout'));
    await assert.rejects(lim.run(async () => 1, 30, () => new Error('no slot')), /no slot/);
    assert.equal(lim.queued, 0);
    await long;
    await assert.rejects(lim.run(async () => { throw new Error('boom'); }, 100, () => new Error('timeout')), /boom/);
    assert.equal(await lim.run(async () => 'ok', 100, () => new Error('timeout')), 'ok');
  });
});

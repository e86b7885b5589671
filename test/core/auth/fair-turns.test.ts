// FairTurns: turns in rotation among keys, one slot passed straight on, never more running than the limit.
import assert from 'node:assert/strict';
import { FairTurns } from '../../../core/auth/fair-turns.ts';

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => { open = r; });
  return { p, open };
}

describe('FairTurns', () => {
  it('gives each waiting key a turn in rotation, however many one key queued first', async () => {
    const turns = new FairTurns(1);
    const order: string[] = [];
    const first = gate();
    const running = turns.run('busy', async () => { order.push('busy-0'); await first.p; });
    const all = [running];
    for (let i = 1; i <= 4; i++) all.push(turns.run('busy', async () => { order.push(`busy-${i}`); }));
    all.push(turns.run('quiet', async () => { order.push('quiet-0'); }));
    all.push(turns.run('other', async () => { order.push('other-0'); }));
    assert.equal(turns.queued, 6);
    first.open();
    await Promise.all(all);
    assert.deepEqual(order, ['busy-0', 'busy-1', 'quiet-0', 'other-0', 'busy-2', 'busy-3', 'busy-4']);
    assert.equal(turns.queued, 0);
  });

  it('never runs more than its limit at once, and frees the slot when work throws', async () => {
    const turns = new FairTurns(2);
    let now = 0, most = 0;
    const work = (fail: boolean) => async () => {
      now++; most = Math.max(most, now);
      await new Promise((r) => setTimeout(r, 2));
      now--;
      if (fail) throw new Error('scrypt failed');
    };
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => turns.run(`k${i % 3}`, work(i % 4 === 0))));
    assert.equal(most, 2);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 3);
    // Slots all came back: a new request runs at once.
    let ran = false;
    await turns.run('late', async () => { ran = true; });
    assert.ok(ran);
  });
});

// FairTurns' ranks (core/auth/fair-turns.ts), which order the AUTH password checks by the client's standing: a free
// slot goes to the lowest rank waiting, the rotation by key holds within a rank, and a full rank refuses at once.
import assert from 'node:assert/strict';
import { FairTurns, TurnsFull } from '../../../core/auth/fair-turns.ts';

describe('FairTurns ranks', () => {
  it('serves the lowest rank waiting first, in rotation by key within each rank', async () => {
    const turns = new FairTurns(1);
    const order: string[] = [];
    const first = Promise.withResolvers<void>();
    const all = [turns.run('g1', async () => { order.push('g1-0'); await first.promise; }, { rank: 2 })];
    for (const [key, rank] of [['g1', 2], ['g1', 2], ['g2', 2], ['new', 1], ['user', 0], ['new2', 1]] as const) {
      all.push(turns.run(key, async () => { order.push(`${key}-${rank}`); }, { rank }));
    }
    assert.deepEqual([turns.queuedAt(0), turns.queuedAt(1), turns.queuedAt(2)], [1, 2, 3]);
    first.resolve();
    await Promise.all(all);
    assert.deepEqual(order, ['g1-0', 'user-0', 'new-1', 'new2-1', 'g1-2', 'g2-2', 'g1-2']);
  });

  it('refuses a request whose rank has its most waiting, without running it, and takes it again once one left', async () => {
    const turns = new FairTurns(1);
    const first = Promise.withResolvers<void>();
    const running = turns.run('a', () => first.promise, { rank: 0 });
    const waiting = [1, 2].map((i) => turns.run(`g${i}`, async () => i, { rank: 1, maxWaiting: 2 }));
    let ran = false;
    await assert.rejects(turns.run('g3', async () => { ran = true; }, { rank: 1, maxWaiting: 2 }), TurnsFull);
    assert.equal(ran, false);
    // Other ranks are not limited by it.
    const other = turns.run('u', async () => 'u', { rank: 0 });
    first.resolve();
    await running;
    assert.deepEqual(await Promise.all([...waiting, other]), [1, 2, 'u']);
    assert.equal(await turns.run('g3', async () => 3, { rank: 1, maxWaiting: 2 }), 3);
    assert.equal(turns.queued, 0);
  });
});

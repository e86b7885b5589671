// The scheduler's timetable (core/queue/due-heap.ts), checked against a plain list kept sorted the slow way: keys come
// out earliest first (the smaller key first on a tie), a moved key is due at its new time only, and a removed one never.
import assert from 'node:assert/strict';
import { DueHeap } from '../../../core/queue/due-heap.ts';
import { seededRandom } from '../../../scripts/seeded-random.ts';

describe('queue: the timetable of deferred messages', () => {
  it('gives keys back earliest first, ties by key, through thousands of random sets, moves and removals', () => {
    const random = seededRandom(35);
    const heap = new DueHeap();
    const truth = new Map<string, number>();
    for (let step = 0; step < 20_000; step++) {
      const key = `m${Math.floor(random() * 500).toString().padStart(3, '0')}`;
      const roll = random();
      if (roll < 0.6) {
        const at = Math.floor(random() * 1000);
        heap.set(key, at);
        truth.set(key, at);
      } else if (roll < 0.8) {
        assert.equal(heap.delete(key), truth.delete(key));
      } else {
        const now = Math.floor(random() * 1000);
        const due = [...truth].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
        const first = due[0]?.[0];
        assert.equal(heap.popDue(now), first);
        if (first !== undefined) truth.delete(first);
      }
      assert.equal(heap.size, truth.size);
    }
    const rest: string[] = [];
    for (let k = heap.popDue(Infinity); k !== undefined; k = heap.popDue(Infinity)) rest.push(k);
    assert.deepEqual(rest, [...truth].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k));
  });

  it('knows each key\'s time and the earliest; Infinity takes a key out', () => {
    const heap = new DueHeap();
    assert.equal(heap.next, Infinity);
    heap.set('b', 20);
    heap.set('a', 20);
    heap.set('c', 5);
    assert.equal(heap.next, 5);
    assert.equal(heap.timeOf('a'), 20);
    heap.set('c', Infinity);
    assert.equal(heap.timeOf('c'), undefined);
    assert.equal(heap.popDue(19), undefined);
    assert.deepEqual([heap.popDue(20), heap.popDue(20), heap.popDue(20)], ['a', 'b', undefined]);
  });
});

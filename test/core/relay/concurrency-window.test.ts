// The window's arithmetic on its own: the pool tests (pool-delivery-feedback, connection-limit) drive it with real
// sessions; these cases pin its edges, which a real hop reaches only by chance.
import assert from 'node:assert/strict';
import { ConcurrencyWindow } from '../../../core/relay/concurrency-window.ts';

/** Deliveries made with the whole window in use, until it grows; how many it took. */
function fillUntilGrown(w: ConcurrencyWindow): number {
  for (let n = 1; ; n++) if (w.delivered(w.size)) return n;
}

describe('relay pool: the concurrency window', () => {
  it('stays at its ceiling until a refusal, whatever is delivered', () => {
    const w = new ConcurrencyWindow(5);
    for (let i = 0; i < 20; i++) assert.equal(w.delivered(5), false);
    assert.equal(w.size, 5);
  });

  it('comes down to what the hop accepted, never to 0 and never up', () => {
    const w = new ConcurrencyWindow(6);
    assert.equal(w.lower(3), true);
    assert.equal(w.size, 3);
    assert.equal(w.lower(5), false, 'a refusal does not raise the window');
    assert.equal(w.size, 3);
    assert.equal(w.lower(0), true);
    assert.equal(w.size, 1, 'one connection is always allowed');
  });

  it('climbs one step per as many full-window deliveries as it is wide, up to the ceiling', () => {
    const w = new ConcurrencyWindow(4);
    w.lower(1);
    assert.deepEqual([fillUntilGrown(w), fillUntilGrown(w), fillUntilGrown(w)], [1, 2, 3]);
    assert.equal(w.size, 4);
    assert.equal(w.delivered(4), false, 'no step beyond the ceiling');
  });

  it('counts no delivery made with part of the window unused', () => {
    const w = new ConcurrencyWindow(4);
    w.lower(2);
    for (let i = 0; i < 10; i++) w.delivered(1);
    assert.equal(w.size, 2);
  });

  it('starts its count over after a refusal', () => {
    const w = new ConcurrencyWindow(4);
    w.lower(3);
    w.delivered(3);
    w.delivered(3);
    w.lower(3);
    assert.equal(w.delivered(3), false, 'the two deliveries before the refusal no longer count');
    assert.equal(w.delivered(3), false);
    assert.equal(w.delivered(3), true);
    assert.equal(w.size, 4);
  });
});

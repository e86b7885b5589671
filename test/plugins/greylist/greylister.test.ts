// The greylist state machine over a store, with a hand-driven clock: defer, too early, pass, remember, window expiry.
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../core/store/memory-store.ts';
import { Greylister, passClientKey, passTripletKey, waitKey, type Triplet } from '../../../plugins/greylist/greylister.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const t: Triplet = { client: '192.0.2.0/24', sender: 'a@example.com', rcpt: 'b@example.net' };

function setup(rememberBy: 'triplet' | 'client' = 'triplet', autoAllowAfter = 0) {
  let clock = 1_700_000_000_000;
  const store = new MemoryStore();
  const g = new Greylister(store, { delay: 5 * MIN, retryWindow: 2 * DAY, remember: 35 * DAY, rememberBy, autoAllowAfter }, () => clock);
  return { store, g, advance: (ms: number) => { clock += ms; } };
}

describe('Greylister', () => {
  it('defers the first attempt, and again when retried before the delay', async () => {
    const { g, advance } = setup();
    assert.deepEqual(await g.check(t), { action: 'defer', first: true, retryInMs: 5 * MIN });
    advance(2 * MIN);
    assert.deepEqual(await g.check(t), { action: 'defer', first: false, retryInMs: 3 * MIN });
  });

  it('passes a retry after the delay, then remembers the triplet only once the pass is recorded', async () => {
    const { g, store, advance } = setup();
    await g.check(t);
    advance(6 * MIN);
    const first = 1_700_000_000_000;
    assert.deepEqual(await g.check(t), { action: 'passed', delayedMs: 6 * MIN, first });
    assert.notEqual(await store.get(waitKey(t)), null, 'unrecorded, the waiting entry stays');
    assert.equal(await store.get(passTripletKey(t)), null, 'and nothing is remembered');
    assert.deepEqual(await g.check(t), { action: 'passed', delayedMs: 6 * MIN, first }, 'so the next retry passes too');
    assert.deepEqual(await g.recordPass(t, first), { counted: true, clientAllowed: false });
    assert.equal(await store.get(waitKey(t)), null, 'the waiting entry is gone');
    advance(10 * DAY);
    assert.deepEqual(await g.check(t), { action: 'known', by: 'triplet' });
    assert.equal((await g.check({ ...t, rcpt: 'other@example.net' })).action, 'defer');
  });

  it('lets a network through once its triplets have passed by retrying auto_allow_after times', async () => {
    const { g, advance } = setup('triplet', 3);
    const passes: boolean[] = [];
    for (const rcpt of ['r1@example.net', 'r2@example.net', 'r3@example.net']) {
      const triplet = { ...t, rcpt };
      assert.equal((await g.check(triplet)).action, 'defer');
      advance(6 * MIN);
      const d = await g.check(triplet);
      assert.equal(d.action, 'passed');
      if (d.action === 'passed') passes.push((await g.recordPass(triplet, d.first)).clientAllowed);
    }
    assert.deepEqual(passes, [false, false, true], 'allowed at the third pass');
    assert.deepEqual(await g.check({ ...t, sender: 'new@example.org', rcpt: 'new@example.net' }), { action: 'known', by: 'client' });
    assert.equal((await g.check({ ...t, client: '198.51.100.0/24' })).action, 'defer', 'another network still waits');
  });

  it('counts a triplet recorded twice at once (two sessions, two gateways) as one pass', async () => {
    const { g, store, advance } = setup('triplet', 2);
    await g.check(t);
    advance(6 * MIN);
    const [a, b] = await Promise.all([g.check(t), g.check(t)]);
    assert.equal(a.action, 'passed');
    assert.equal(b.action, 'passed');
    const recs = await Promise.all([g.recordPass(t, 0), g.recordPass(t, 0)]);
    assert.deepEqual(recs.map((r) => r.counted).sort(), [false, true]);
    assert.equal(await store.get('greylist:passes:192.0.2.0/24'), '1');
  });

  it('with remember_by client, remembers every sender and recipient of that network', async () => {
    const { g, store, advance } = setup('client');
    await g.check(t);
    advance(5 * MIN);
    const d = await g.check(t);
    assert.equal(d.action, 'passed');
    if (d.action === 'passed') await g.recordPass(t, d.first);
    assert.notEqual(await store.get(passClientKey(t.client)), null);
    assert.equal(await store.get(passTripletKey(t)), null);
    assert.deepEqual(await g.check({ ...t, sender: 'z@else.example', rcpt: 'y@example.net' }), { action: 'known', by: 'client' });
  });

  it('starts over when the retry comes after the window', async () => {
    const { g, advance } = setup();
    await g.check(t);
    advance(2 * DAY + MIN);
    assert.deepEqual(await g.check(t), { action: 'defer', first: true, retryInMs: 5 * MIN });
  });

  it('pushes a remembered entry\'s expiry back when it is used, at most hourly', async () => {
    const { g, store, advance } = setup();
    await g.check(t);
    advance(5 * MIN);
    await g.check(t);
    await g.recordPass(t, 0);
    const before = JSON.parse((await store.get(passTripletKey(t)))!);
    advance(30 * MIN);
    await g.check(t);
    assert.equal(JSON.parse((await store.get(passTripletKey(t)))!).last, before.last, 'not rewritten within the hour');
    advance(31 * MIN);
    await g.check(t);
    assert.equal(JSON.parse((await store.get(passTripletKey(t)))!).last, before.last + 61 * MIN);
  });

  it('a client remembered by hand (moat greylist allow) is known in triplet mode too', async () => {
    const { g, store } = setup();
    const admin = new Greylister(store, { delay: 1, retryWindow: 10, remember: DAY, rememberBy: 'client' });
    await admin.remember(t, undefined, Date.now(), 'admin');
    assert.deepEqual(await g.check({ ...t, sender: 'new@else.example' }), { action: 'known', by: 'client' });
  });

  it('a host allowed by hand is known from that address only, not from the rest of its network', async () => {
    const { g, store } = setup();
    const admin = new Greylister(store, { delay: 1, retryWindow: 10, remember: DAY, rememberBy: 'client' });
    await admin.remember({ ...t, client: '192.0.2.5/32' }, undefined, Date.now(), 'admin');
    assert.deepEqual(await g.check(t, '192.0.2.5/32'), { action: 'known', by: 'host' });
    assert.equal((await g.check(t, '192.0.2.6/32')).action, 'defer');
  });
});

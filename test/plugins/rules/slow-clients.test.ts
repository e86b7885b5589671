// The memory of clients whose regex batch ran to its deadline: it forgets after its hold time, and stays bounded.
import assert from 'node:assert/strict';
import { SlowClients } from '../../../plugins/rules/slow-clients.ts';

describe('plugins/rules/slow-clients', () => {
  it('knows a marked client until its hold time has passed, then forgets it', () => {
    const slow = new SlowClients(1_000, 10);
    slow.mark('192.0.2.1', 5_000);
    assert.equal(slow.has('192.0.2.1', 5_999), true);
    assert.equal(slow.has('192.0.2.2', 5_999), false);
    assert.equal(slow.has('192.0.2.1', 6_000), false);
    assert.equal(slow.size, 0, 'an expired entry is dropped when asked for');
  });

  it('keeps at most max clients, dropping the one marked longest ago, and a new mark renews an old client', () => {
    const slow = new SlowClients(60_000, 3);
    for (const c of ['a', 'b', 'c']) slow.mark(c, 1_000);
    slow.mark('a', 2_000);
    slow.mark('d', 2_000);
    assert.equal(slow.size, 3);
    assert.equal(slow.has('b', 2_000), false, 'b was marked longest ago');
    for (const c of ['a', 'c', 'd']) assert.equal(slow.has(c, 2_000), true, c);
  });
});

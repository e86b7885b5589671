// A connection lost after the final dot was written may have left the message with that host: the next host of the
// same attempt must not be given it (a second copy within seconds); the queue's retry takes it. Unit test of the
// pure turn-taking logic of sendInTurn, with hops that answer as scripted.
import assert from 'node:assert/strict';
import { sendInTurn, type Hop } from '../../../core/relay/host-failover.ts';
import type { RecipientResult } from '../../../core/relay/types.ts';

/** A hop that answers each recipient with `answer(address)` and records what it was asked to send. */
function scriptedHop(answer: (address: string) => Omit<RecipientResult, 'address'>): Hop & { asked: string[][] } {
  const asked: string[][] = [];
  return { asked, label: 'hop', send: async (rcpts) => { asked.push(rcpts); return rcpts.map((address) => ({ address, ...answer(address) })); } };
}

const lostAfterDot = { ok: false, permanent: false, reply: 'connection closed', hostFailure: true, afterEndOfData: true };

describe('relay: no failover after the final dot', () => {
  it('a result lost after the end of data stays with the first host; the next host is not asked', async () => {
    const first = scriptedHop(() => lostAfterDot);
    const second = scriptedHop(() => ({ ok: true, permanent: false, reply: '250 ok' }));
    const results = await sendInTurn([first, second], ['a@x.test', 'b@x.test'], () => false);
    assert.deepEqual(second.asked, []);
    assert.deepEqual(results.map((r) => [r.address, r.ok, r.permanent, r.afterEndOfData]), [['a@x.test', false, false, true], ['b@x.test', false, false, true]]);
  });

  it('a 4xx before the dot still goes to the next host in the same attempt', async () => {
    const first = scriptedHop((a) => (a === 'a@x.test' ? { ok: false, permanent: false, reply: '451 try later' } : lostAfterDot));
    const second = scriptedHop(() => ({ ok: true, permanent: false, reply: '250 ok' }));
    const results = await sendInTurn([first, second], ['a@x.test', 'b@x.test'], () => false);
    assert.deepEqual(second.asked, [['a@x.test']]);
    assert.deepEqual(results.map((r) => [r.address, r.ok]), [['a@x.test', true], ['b@x.test', false]]);
  });
});

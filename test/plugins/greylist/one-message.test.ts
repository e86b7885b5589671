// A message is greylisted as one: its many new recipients are deferred in one round and pass together in the next
// (their deferrals count once toward limits.max_errors), the reply says when to retry, and a triplet let in by its
// network's auto-allow after waiting is marked as delayed like any retry.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';
import { deliver } from './session.ts';

const DELAY = 700;

/** Resolves once `DELAY` has passed since `since`. */
const delayOver = (since: number) => waitUntil('the greylisting delay to pass', () => Date.now() > since + DELAY + 50);

describe('greylist: one message, one round', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: {
      limits: { max_errors: 10 },
      plugins: [{ name: 'greylist', delay: `${DELAY}ms`, retry_window: '1m', remember: '1h', auto_allow_after: 2 }],
    } });
  });
  after(() => gw.stop());

  it('defers all 25 recipients of a message from a new network in one round and delivers it whole in the next', async () => {
    const to = Array.from({ length: 25 }, (_x, i) => `member${i}@example.com`);
    const a = { ip: '198.51.100.30', from: 'list@sender.test', to };
    const started = Date.now();
    const round1 = await deliver(gw.port, a);
    assert.deepEqual(round1.rcpts.map((r) => r.code), Array(25).fill(451), 'every recipient deferred, none dropped with 421');
    assert.equal(round1.data, undefined);
    assert.equal(gw.logs.filter((l) => l.msg === 'greylisted' && l.network === '198.51.100.0/24').length, 25, 'every triplet started its clock');
    assert.ok(!gw.logs.some((l) => l.msg === 'too many errors: disconnecting'));

    await delayOver(started);
    const round2 = await deliver(gw.port, a);
    assert.deepEqual(round2.rcpts.map((r) => r.code), Array(25).fill(250));
    assert.equal(round2.data?.code, 250);
    const got = await waitFor('the message at the smarthost', () => gw.sink.messages.find((m) => m.raw.toString().includes(round2.marker)));
    assert.deepEqual([...got.rcptTo].sort(), [...to].sort());
    assert.match(got.raw.toString(), /^X-Greylist: delayed [0-9]+ seconds? by mx\.test\.example\r$/m);
  });

  it('says in the deferral how many seconds are left before a retry can pass', async () => {
    const a = { ip: '203.0.113.40', from: 'hint@sender.test', to: 'hint@example.com' };
    const first = await deliver(gw.port, a);
    assert.equal(first.rcpts[0].code, 451);
    assert.equal(first.rcpts[0].text, '4.7.1 Greylisted, please try again in 1 second');
  });

  it('marks a waiting triplet that its network\'s auto-allow lets in as delayed, and records its pass', async () => {
    const ip = '192.0.2.50';
    const started = Date.now();
    const first = await deliver(gw.port, { ip, from: 'one@sender.test', to: ['w1@example.com', 'w2@example.com', 'late@example.com'] });
    assert.deepEqual(first.rcpts.map((r) => r.code), [451, 451, 451]);
    await delayOver(started);
    // Two triplets retry and pass: auto_allow_after 2 allows the network.
    assert.equal((await deliver(gw.port, { ip, from: 'one@sender.test', to: ['w1@example.com', 'w2@example.com'] })).data?.code, 250);
    await waitFor('the network allowed', () => gw.logs.find((l) => l.msg === 'greylist client network allowed' && l.network === '192.0.2.0/24'));

    const late = await deliver(gw.port, { ip, from: 'one@sender.test', to: 'late@example.com' });
    assert.equal(late.rcpts[0].code, 250);
    const got = await waitFor('the late message at the smarthost', () => gw.sink.messages.find((m) => m.raw.toString().includes(late.marker)));
    assert.match(got.raw.toString(), /^X-Greylist: delayed [0-9]+ seconds? by mx\.test\.example\r$/m, 'it waited, as its header says');
    const summary = await waitFor('the summary line', () => gw.logs.find((l) => l.msg === 'message' && Array.isArray(l.to) && (l.to as string[]).includes('late@example.com')));
    assert.ok((summary.symbols as string[]).includes('GREYLIST_PASSED(0)'), String(summary.symbols));
    assert.ok(gw.logs.some((l) => l.msg === 'greylist passed' && String(l.to) === 'late@example.com'));

    // A sender new to the allowed network passes at once, without the header: it never waited.
    const fresh = await deliver(gw.port, { ip, from: 'two@sender.test', to: 'fresh@example.com' });
    assert.equal(fresh.rcpts[0].code, 250);
    const fm = await waitFor('the fresh message at the smarthost', () => gw.sink.messages.find((m) => m.raw.toString().includes(fresh.marker)));
    assert.doesNotMatch(fm.raw.toString(), /^X-Greylist:/m);
  });
});

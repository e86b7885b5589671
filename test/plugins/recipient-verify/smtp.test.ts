// recipient-verify in a real gateway, probing a real smtp-server behind it: refusals at RCPT, the cache, shared probes,
// the cap on probes, what a probe says on the wire, and routes that are not asked.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startNextHop, type NextHop } from './next-hop.ts';
import { send, rcpt, logged, until } from './session.ts';

const probesFor = (hop: NextHop, address: string) => hop.probeRcpts().filter((l) => l.toLowerCase() === `rcpt to:<${address.toLowerCase()}>`).length;

describe('plugins/recipient-verify: probing the server behind', function () {
  this.timeout(20_000);
  let hop: NextHop;
  let gw: TestGateway;
  before(async () => {
    hop = await startNextHop();
    gw = await startGateway({
      config: {
        domains: ['example.com', 'mx.example.com'],
        smarthost: `smtp://127.0.0.1:${hop.port}`,
        plugins: [{ name: 'recipient-verify', target: `smtp://127.0.0.1:${hop.probePort}`, routes: { 'mx.example.com': 'mx' }, max_probes: 2 }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await hop?.stop();
  });

  it('refuses an unknown user at RCPT with 550 5.1.1 quoting the next hop, and queues nothing for it', async () => {
    hop.refuse.set('nobody@example.com', 550);
    const r = await send(gw.port, ['nobody@example.com']);
    assert.equal(r.rcpts[0].code, 550);
    assert.match(r.rcpts[0].text, /^5\.1\.1 <nobody@example\.com>: Recipient address rejected: undeliverable \(.*550 5\.1\.1 <nobody@example\.com>: no such user here\)/);
    assert.equal(r.data, undefined, 'no recipient left: no DATA');
    assert.ok(!gw.logs.some((l) => l.msg === 'message' && JSON.stringify(l.to ?? '').includes('nobody@')), 'no message was taken for it');
    assert.ok(!hop.delivered.some((m) => m.to.includes('nobody@example.com')));
  });

  it('takes a known user (250) and the message is delivered to it alone beside a refused one', async () => {
    hop.refuse.set('ghost@example.com', 550);
    const r = await send(gw.port, ['alice@example.com', 'ghost@example.com']);
    assert.deepEqual(r.rcpts.map((x) => x.code), [250, 550]);
    assert.equal(r.data?.code, 250);
    await until(() => hop.delivered.some((m) => m.to.includes('alice@example.com')), 'delivery to alice');
    assert.deepEqual(hop.delivered.find((m) => m.to.includes('alice@example.com'))?.to, ['alice@example.com']);
  });

  it('answers a second RCPT for the same unknown address from the cache: one probe at the next hop', async () => {
    hop.refuse.set('gone@example.com', 550);
    assert.equal((await rcpt(gw.port, 'gone@example.com')).code, 550);
    assert.equal((await rcpt(gw.port, 'GONE@Example.com')).code, 550, 'another spelling, the same entry');
    assert.equal(probesFor(hop, 'gone@example.com'), 1);
    await logged(gw.logs, (l) => l.msg === 'recipient refused by the server behind' && l.source === 'cache', 'a refusal from the cache');
  });

  it('caches an accepted address too', async () => {
    assert.equal((await rcpt(gw.port, 'bob@example.com')).code, 250);
    assert.equal((await rcpt(gw.port, 'bob@example.com')).code, 250);
    assert.equal(probesFor(hop, 'bob@example.com'), 1);
  });

  it('does not cache a 4xx from the next hop: 450 4.1.1 now, verified by a new probe later', async () => {
    hop.refuse.set('busy@example.com', 451);
    const first = await rcpt(gw.port, 'busy@example.com');
    assert.equal(first.code, 450);
    assert.match(first.text, /^4\.1\.1 <busy@example\.com>: Recipient address verification failed temporarily/);
    assert.doesNotMatch(first.text, /127\.0\.0\.1/, 'hosts behind the gateway stay in the log');
    hop.refuse.delete('busy@example.com');
    assert.equal((await rcpt(gw.port, 'busy@example.com')).code, 250);
    assert.equal(probesFor(hop, 'busy@example.com'), 2);
  });

  it('a probe says MAIL FROM:<> and RCPT TO, then RSET and QUIT, and never DATA', async () => {
    hop.refuse.set('wire@example.com', 550);
    await rcpt(gw.port, 'wire@example.com');
    const session = () => hop.probeSessions.find((s) => s.some((l) => /^RCPT TO:<wire@example\.com>/i.test(l)));
    await until(() => session()?.includes('QUIT') === true, 'the probe says QUIT');
    const lines = session()!;
    assert.match(lines[0], /^EHLO mx\.test\.example$/);
    assert.deepEqual(lines.slice(1), ['MAIL FROM:<>', 'RCPT TO:<wire@example.com>', 'RSET', 'QUIT']);
    const every = hop.probeSessions.flat();
    assert.ok(!every.some((l) => /^(DATA|BDAT)\b/i.test(l)), 'no probe ever sent DATA');
    assert.ok(every.filter((l) => /^MAIL /i.test(l)).every((l) => l === 'MAIL FROM:<>'), 'every probe used the null sender');
  });

  it('concurrent RCPTs for one address share one probe', async () => {
    const addr = 'shared@example.com';
    hop.hold(addr);
    const a = rcpt(gw.port, addr);
    await hop.rcptSeen(addr);
    const b = rcpt(gw.port, addr.toUpperCase());
    await logged(gw.logs, (l) => l.msg === 'recipient-verify waits for the probe in flight' && String(l.to) === addr, 'the second RCPT joins the first probe');
    hop.release(addr);
    assert.deepEqual([(await a).code, (await b).code], [250, 250]);
    assert.equal(probesFor(hop, addr), 1);
  });

  it('beyond max_probes in flight, a new address gets the on_error answer (450) without a connection', async () => {
    hop.hold('slow1@example.com');
    hop.hold('slow2@example.com');
    const s1 = rcpt(gw.port, 'slow1@example.com');
    const s2 = rcpt(gw.port, 'slow2@example.com');
    await hop.rcptSeen('slow1@example.com');
    await hop.rcptSeen('slow2@example.com');
    const sessions = hop.probeSessions.length;
    const over = await rcpt(gw.port, 'third@example.com');
    assert.equal(over.code, 450);
    assert.equal(hop.probeSessions.length, sessions, 'no connection for the probe over the cap');
    await logged(gw.logs, (l) => l.msg === 'recipient verification failed' && String(l.to) === 'third@example.com' && /max_probes/.test(String(l.reason)), 'the cap in the log');
    hop.release('slow1@example.com');
    hop.release('slow2@example.com');
    assert.deepEqual([(await s1).code, (await s2).code], [250, 250]);
    assert.equal((await rcpt(gw.port, 'third@example.com')).code, 250, 'the cap was not a result: nothing cached');
  });

  it('does not probe a domain routed to MX hosts, and says so once in the log', async () => {
    const before = hop.probeSessions.length;
    assert.equal((await rcpt(gw.port, 'one@mx.example.com')).code, 250);
    assert.equal((await rcpt(gw.port, 'two@mx.example.com')).code, 250);
    assert.equal(hop.probeSessions.length, before);
    const told = gw.logs.filter((l) => l.msg === 'recipient-verify does not verify this domain');
    assert.equal(told.length, 1);
    assert.match(String(told[0].why), /MX hosts/);
  });

  it('does not probe recipients outside the local domains', async () => {
    const before = hop.probeSessions.length;
    assert.equal((await rcpt(gw.port, 'someone@elsewhere.example')).code, 554, 'relay refused by the core, not probed');
    assert.equal(hop.probeSessions.length, before);
  });

  it('with no target of its own, asks where the gateway relays: its smarthost, or nothing when it writes files', async () => {
    // The tap is the gateway's smarthost here: what the gateway delivers passes through it as well as the probes.
    const own = await startGateway({
      config: { domains: ['example.com'], smarthost: `smtp://127.0.0.1:${hop.probePort}`, plugins: [{ name: 'recipient-verify' }] },
    });
    const files = await startGateway({ config: { domains: ['example.com'], plugins: [{ name: 'recipient-verify' }] } });
    try {
      hop.refuse.set('follow@example.com', 550);
      assert.equal((await rcpt(own.port, 'follow@example.com')).code, 550);
      assert.equal(probesFor(hop, 'follow@example.com'), 1);
      const before = hop.probeSessions.length;
      assert.equal((await rcpt(files.port, 'follow@example.com')).code, 250, 'no smarthost: nothing to ask, the recipient passes');
      assert.equal(hop.probeSessions.length, before);
      assert.match(String(files.logs.find((l) => l.msg === 'recipient-verify does not verify this domain')?.why), /files/);
    } finally { await own.stop(); await files.stop(); }
  });
});

// ptr against the loopback DNS server: never, reject, score, forward confirmation, trusted clients, timeouts.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import ptr from '../../../plugins/ptr/index.ts';
import { pluginHarness } from '../rbl/harness.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const WITH_PTR = '93.184.216.10';     // PTR mail.good.test, which resolves back
const UNCONFIRMED = '93.184.216.11';  // PTR liar.good.test, which resolves elsewhere
const NO_PTR = '93.184.216.12';
const DEAD = '198.51.100.7';          // its reverse zone never answers
const V6 = '2001:db8::25';            // PTR v6.good.test with a matching AAAA
const FORMERR = '93.184.216.13';      // PTR host.formerr.test, whose server answers FORMERR

describe('plugins/ptr', () => {
  let dns: DnsTestServer;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        '216.184.93.in-addr.arpa': { '10': { PTR: 'mail.good.test' }, '11': { PTR: 'liar.good.test' }, '13': { PTR: 'host.formerr.test' } },
        'formerr.test': { host: { A: FORMERR } },
        '100.51.198.in-addr.arpa': {},
        '8.b.d.0.1.0.0.2.ip6.arpa': { '5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0': { PTR: 'v6.good.test' } },
        'good.test': { mail: { A: WITH_PTR }, liar: { A: '192.0.2.99' }, v6: { AAAA: V6 } },
      },
      behaviours: { '100.51.198.in-addr.arpa': { drop: true }, 'formerr.test': { rcode: 'FORMERR' } },
    });
  });
  after(() => dns?.stop());

  const mailFrom = async (opts: object, session: object) => {
    const h = await pluginHarness(ptr, opts, dns.address, { timeout: 200 });
    const c = h.connect(session);
    const con = await c.run('connect');
    assert.equal(con.outcome, undefined);
    return c.run('mailFrom', { mailFrom: 'a@b.test' });
  };

  it('mode never: no lookup at all', async () => {
    await dns.resetQueries();
    assert.equal((await mailFrom({ mode: 'never' }, { ip: NO_PTR })).outcome, undefined);
    assert.equal((await dns.queries()).length, 0);
  });

  it('mode reject: refuses a client without PTR at MAIL FROM (550 5.7.25), accepts one with PTR', async () => {
    const r = await mailFrom({ mode: 'reject' }, { ip: NO_PTR });
    assert.equal(r.outcome?.action, 'reject');
    assert.equal(r.outcome?.code, 550);
    assert.equal(r.outcome?.enhanced, '5.7.25');
    assert.equal(r.outcome?.text, `Client ${NO_PTR} has no valid reverse DNS (PTR) record`);
    assert.equal((await mailFrom({ mode: 'reject' }, { ip: WITH_PTR })).outcome, undefined);
    assert.equal((await mailFrom({ mode: 'reject' }, { ip: UNCONFIRMED })).outcome, undefined);
  });

  it('mode reject with fcrdns: also refuses a PTR that does not resolve back; IPv4 and IPv6 confirm', async () => {
    assert.equal((await mailFrom({ mode: 'reject', fcrdns: true }, { ip: UNCONFIRMED })).outcome?.action, 'reject');
    assert.equal((await mailFrom({ mode: 'reject', fcrdns: true }, { ip: WITH_PTR })).outcome, undefined);
    assert.equal((await mailFrom({ mode: 'reject', fcrdns: true }, { ip: V6 })).outcome, undefined);
  });

  it('mode score: PTR_MISSING and PTR_NOT_CONFIRMED findings with their scores', async () => {
    const miss = await mailFrom({ mode: 'score', score: 4 }, { ip: NO_PTR });
    assert.equal(miss.outcome, undefined);
    assert.deepEqual(miss.findings.map((f) => [f.symbol, f.score]), [['PTR_MISSING', 4]]);
    const unc = await mailFrom({ mode: 'score', fcrdns: true, fcrdns_score: 1.5 }, { ip: UNCONFIRMED });
    assert.deepEqual(unc.findings.map((f) => [f.symbol, f.score]), [['PTR_NOT_CONFIRMED', 1.5]]);
    assert.deepEqual((await mailFrom({ mode: 'score', fcrdns: true }, { ip: WITH_PTR })).findings, []);
  });

  it('skips trusted (authenticated or relay-network) clients', async () => {
    assert.equal((await mailFrom({ mode: 'reject' }, { ip: NO_PTR, trusted: true, user: 'joe' })).outcome, undefined);
    assert.equal((await mailFrom({ mode: 'reject' }, { ip: NO_PTR, trusted: true, relayNetwork: true })).outcome, undefined);
  });

  it('a reverse zone that never answers is a tempfail (450 4.7.25), in reject and score mode alike; on_error: skip goes on', async () => {
    for (const mode of ['reject', 'score']) {
      const r = await mailFrom({ mode }, { ip: DEAD });
      assert.equal(r.outcome?.action, 'tempfail', mode);
      assert.equal(r.outcome?.code, 450);
      assert.equal(r.outcome?.enhanced, '4.7.25');
    }
    const s = await mailFrom({ mode: 'reject', on_error: 'skip' }, { ip: DEAD });
    assert.equal(s.outcome, undefined);
    assert.deepEqual(s.findings.map((f) => [f.symbol, f.score]), [['PTR_UNAVAILABLE', 0]]);
  });

  it('a forward lookup whose server answers FORMERR is a tempfail with fcrdns, not a refusal', async () => {
    const r = await mailFrom({ mode: 'reject', fcrdns: true }, { ip: FORMERR });
    assert.equal(r.outcome?.action, 'tempfail');
    assert.equal(r.outcome?.code, 450);
  });

  it('names the client by a forward-confirmed PTR only: not by one merely present, nor by one that does not resolve back', async () => {
    assert.equal((await mailFrom({ mode: 'score', fcrdns: true }, { ip: WITH_PTR })).verifiedName, 'mail.good.test');
    assert.equal((await mailFrom({ mode: 'score', fcrdns: true }, { ip: V6 })).verifiedName, 'v6.good.test');
    assert.equal((await mailFrom({ mode: 'score', fcrdns: false }, { ip: WITH_PTR })).verifiedName, undefined);
    assert.equal((await mailFrom({ mode: 'score', fcrdns: true }, { ip: UNCONFIRMED })).verifiedName, undefined);
    assert.equal((await mailFrom({ mode: 'score', fcrdns: true }, { ip: NO_PTR })).verifiedName, undefined);
  });

  it('names an authenticated client by a lookup already done, and starts none for a relay-network client', async () => {
    const h = await pluginHarness(ptr, { mode: 'reject', fcrdns: true }, dns.address, { timeout: 200 });
    const c = h.connect({ ip: WITH_PTR });
    await c.run('connect');
    // The client logs in before MAIL FROM: its lookup, started at connect, is used once it is in, never waited for.
    Object.assign(c.session, { trusted: true, user: 'joe' });
    await waitFor('the lookup started at connect to be done', () => (c.connectionState.ptr as { settled?: unknown }).settled);
    assert.equal((await c.run('mailFrom', { mailFrom: 'a@b.test' })).verifiedName, 'mail.good.test');
    await dns.resetQueries();
    const relay = h.connect({ ip: WITH_PTR, trusted: true, relayNetwork: true });
    await relay.run('connect');
    assert.equal((await relay.run('mailFrom', { mailFrom: 'a@b.test' })).verifiedName, undefined);
    assert.deepEqual(await dns.queries(), []);
  });

  it('starts the lookup at connect so MAIL FROM does not wait for it', async () => {
    await dns.resetQueries();
    const h = await pluginHarness(ptr, { mode: 'reject' }, dns.address, { timeout: 2000 });
    const c = h.connect({ ip: WITH_PTR });
    await c.run('connect');
    const question = (q: { name: string; type: string }) => q.type === 'PTR' && q.name === '10.216.184.93.in-addr.arpa';
    // Before MAIL FROM is sent: connect alone put the question to the server, and its answer is in.
    await waitFor('the PTR query sent at connect', async () => (await dns.queries()).find(question));
    await waitFor('the lookup started at connect to be done', () => (c.connectionState.ptr as { settled?: unknown }).settled);
    const r = await c.run('mailFrom', { mailFrom: 'a@b.test' });
    assert.equal(r.outcome, undefined);
    // MAIL FROM judged by connect's answer: it asked nothing of its own.
    assert.equal((await dns.queries()).filter(question).length, 1);
  });
});

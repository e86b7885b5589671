// rbl against the loopback DNS server: every action, code maps, allowlists, IPv6, timeouts and slow lists.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import rbl from '../../../plugins/rbl/index.ts';
import { pluginHarness } from './harness.ts';

const LISTED = '93.184.216.1';       // in bl.test (127.0.0.2 and 127.0.0.4) and pbl.test
const RCPT_LISTED = '93.184.216.5';  // in rcpt.test only
const WHITE = '93.184.216.9';        // in wl.test and bl.test
const CLEAN = '93.184.216.77';
const V6 = '2001:db8::1';
const V6_REV = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2';

describe('plugins/rbl', function () {
  let dns: DnsTestServer;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        'bl.test': {
          '2.0.0.127': { A: '127.0.0.2' },
          '1.216.184.93': { A: ['127.0.0.2', '127.0.0.4'] },
          '9.216.184.93': { A: '127.0.0.2' },
          [V6_REV]: { A: '127.0.0.2' },
        },
        'pbl.test': { '1.216.184.93': { A: '127.0.0.10' } },
        'rcpt.test': { '5.216.184.93': { A: '127.0.0.3' } },
        'wl.test': { '9.216.184.93': { A: '127.0.9.1' } },
        'slow.test': { '1.216.184.93': { A: '127.0.0.2' } },
        'dead.test': {},
        'refused.test': { '1.216.184.93': { A: '127.255.255.254' } },
      },
      behaviours: { 'slow.test': { delay: 1000 }, 'dead.test': { drop: true } },
    });
  });
  after(() => dns?.stop());
  beforeEach(() => dns.resetQueries());

  const reject = { zone: 'bl.test', action: 'reject', text: 'Go away: {ip} in {zone} ({code})' };

  it('refuses a listed client at connect with the configured text (554 5.7.1), and lets a clean one through', async () => {
    const h = await pluginHarness(rbl, { zones: [reject] }, dns.address);
    const r = await h.connect({ ip: LISTED }).run('connect');
    assert.equal(r.outcome?.action, 'reject');
    assert.equal(r.outcome?.code, 554);
    assert.equal(r.outcome?.enhanced, '5.7.1');
    assert.match(String(r.outcome?.text), /^Go away: 93\.184\.216\.1 in bl\.test \(127\.0\.0\.[24]\)$/);
    const clean = h.connect({ ip: CLEAN });
    assert.equal((await clean.run('connect')).outcome, undefined);
    assert.equal((await clean.run('rcptTo', { rcpt: 'a@b.test' })).outcome, undefined);
    assert.deepEqual((await clean.run('data')).findings, []);
  });

  it('lists the conventional test address 127.0.0.2 from a loopback client', async () => {
    const h = await pluginHarness(rbl, { zones: [reject] }, dns.address);
    assert.equal((await h.connect({ ip: '127.0.0.2' }).run('connect')).outcome?.action, 'reject');
    assert.equal((await h.connect({ ip: '::ffff:127.0.0.2' }).run('connect')).outcome?.action, 'reject');
  });

  it('reject_rcpt: accepts the connection and refuses each RCPT (550 5.7.1), but not for an authenticated client', async () => {
    const h = await pluginHarness(rbl, { zones: [{ zone: 'rcpt.test', action: 'reject_rcpt' }] }, dns.address);
    const c = h.connect({ ip: RCPT_LISTED });
    assert.equal((await c.run('connect')).outcome, undefined);
    const r = await c.run('rcptTo', { rcpt: 'user@example.test' });
    assert.equal(r.outcome?.action, 'reject');
    assert.equal(r.outcome?.code, 550);
    assert.equal(r.outcome?.text, 'Client 93.184.216.5 is listed at rcpt.test');
    const auth = h.connect({ ip: RCPT_LISTED, trusted: true, user: 'joe' });
    assert.equal((await auth.run('rcptTo', { rcpt: 'user@example.test' })).outcome, undefined);
  });

  it('score: records one finding per answer code from the code map, without refusing', async () => {
    const h = await pluginHarness(rbl, {
      zones: [
        { zone: 'bl.test', codes: { '127.0.0.2': { symbol: 'RBL_BL_SBL', score: 6 }, '127.0.0.4': { symbol: 'RBL_BL_XBL', score: 3 } } },
        { zone: 'pbl.test', symbol: 'RBL_PBL', score: 1.5 },
      ],
    }, dns.address);
    const c = h.connect({ ip: LISTED });
    assert.equal((await c.run('connect')).outcome, undefined);
    assert.equal((await c.run('rcptTo', { rcpt: 'x@y.test' })).outcome, undefined);
    const r = await c.run('data');
    assert.equal(r.outcome, undefined);
    assert.deepEqual(r.findings.map((f) => [f.symbol, f.score]).sort(), [['RBL_BL_SBL', 6], ['RBL_BL_XBL', 3], ['RBL_PBL', 1.5]]);
    assert.match(String(r.findings.find((f) => f.symbol === 'RBL_PBL')?.detail), /93\.184\.216\.1 listed at pbl\.test \(127\.0\.0\.10\)/);
  });

  it('a per-code action overrides the zone action (refuse on one code, score another)', async () => {
    const h = await pluginHarness(rbl, { zones: [{ zone: 'bl.test', action: 'score', codes: { '127.0.0.4': { action: 'reject', symbol: 'RBL_XBL' } } }] }, dns.address);
    const r = await h.connect({ ip: LISTED }).run('connect');
    assert.equal(r.outcome?.action, 'reject');
    const only2 = h.connect({ ip: '127.0.0.2' });
    assert.equal((await only2.run('connect')).outcome, undefined);
    assert.deepEqual((await only2.run('data')).findings.map((f) => f.symbol), ['RBL_BL']);
  });

  it('allowlists: a CIDR, access.allow_ips, relay networks and a DNSWL listing skip every blocklist', async () => {
    const h = await pluginHarness(rbl, {
      zones: [reject], allowlist: ['93.184.216.0/28'], allow_zones: [{ zone: 'wl.test', score: -2 }],
    }, dns.address);
    assert.equal((await h.connect({ ip: LISTED }).run('connect')).outcome, undefined);
    const h2 = await pluginHarness(rbl, { zones: [reject], allow_zones: [{ zone: 'wl.test', score: -2 }] }, dns.address);
    const w = h2.connect({ ip: WHITE });
    assert.equal((await w.run('connect')).outcome, undefined);
    assert.deepEqual((await w.run('data')).findings.map((f) => [f.symbol, f.score]), [['RBL_ALLOW_WL', -2]]);
    assert.equal((await h2.connect({ ip: LISTED, allowlisted: true }).run('connect')).outcome, undefined);
    assert.equal((await h2.connect({ ip: LISTED, relayNetwork: true, trusted: true }).run('connect')).outcome, undefined);
    assert.equal((await h2.connect({ ip: LISTED }).run('connect')).outcome?.action, 'reject');
    // A DNSWL code list restricts which answers count.
    const h3 = await pluginHarness(rbl, { zones: [reject], allow_zones: [{ zone: 'wl.test', codes: ['127.0.9.2'] }] }, dns.address);
    assert.equal((await h3.connect({ ip: WHITE }).run('connect')).outcome?.action, 'reject');
  });

  it('skips private addresses without a query unless skip_private is off', async () => {
    const h = await pluginHarness(rbl, { zones: [reject] }, dns.address);
    assert.equal((await h.connect({ ip: '192.168.1.10' }).run('connect')).outcome, undefined);
    assert.equal((await dns.queries()).length, 0);
    const h2 = await pluginHarness(rbl, { zones: [reject], skip_private: false }, dns.address);
    await h2.connect({ ip: '192.168.1.10' }).run('connect');
    assert.deepEqual((await dns.queries()).map((q) => q.name), ['10.1.168.192.bl.test']);
  });

  it('looks up IPv6 clients by reversed nibbles, and not in zones with ipv6: false', async () => {
    const h = await pluginHarness(rbl, { zones: [reject] }, dns.address);
    assert.equal((await h.connect({ ip: V6 }).run('connect')).outcome?.action, 'reject');
    const h2 = await pluginHarness(rbl, { zones: [{ ...reject, ipv6: false }] }, dns.address);
    await dns.resetQueries();
    assert.equal((await h2.connect({ ip: V6 }).run('connect')).outcome, undefined);
    assert.equal((await dns.queries()).length, 0);
  });

  it('a zone that never answers is a temporary failure at its phase, never a pass', async () => {
    const h = await pluginHarness(rbl, { zones: [{ zone: 'dead.test', action: 'reject' }] }, dns.address, { timeout: 200 });
    const r = await h.connect({ ip: LISTED }).run('connect');
    assert.equal(r.outcome?.action, 'tempfail');
    assert.equal(r.outcome?.enhanced, '4.4.3');
    const hr = await pluginHarness(rbl, { zones: [{ zone: 'dead.test', action: 'reject_rcpt' }] }, dns.address, { timeout: 200 });
    const cr = hr.connect({ ip: LISTED });
    assert.equal((await cr.run('connect')).outcome, undefined);
    assert.equal((await cr.run('rcptTo', { rcpt: 'a@b.test' })).outcome?.action, 'tempfail');
    const hs = await pluginHarness(rbl, { zones: [{ zone: 'dead.test' }, { zone: 'pbl.test' }] }, dns.address, { timeout: 200 });
    const cs = hs.connect({ ip: LISTED });
    await cs.run('connect');
    const ds = await cs.run('data');
    assert.equal(ds.outcome?.action, 'tempfail');
    assert.equal(ds.outcome?.code, 451);
  });

  it('on_error: skip records RBL_<ZONE>_UNAVAILABLE (score 0) and goes on; SERVFAIL counts as unavailable too', async () => {
    await dns.setBehaviour('broken.test', { rcode: 'SERVFAIL' });
    const h = await pluginHarness(rbl, {
      zones: [{ zone: 'dead.test', on_error: 'skip' }, { zone: 'broken.test', on_error: 'skip', action: 'reject' }, { zone: 'pbl.test' }],
    }, dns.address, { timeout: 200 });
    const c = h.connect({ ip: LISTED });
    assert.equal((await c.run('connect')).outcome, undefined);
    const r = await c.run('data');
    assert.equal(r.outcome, undefined);
    assert.deepEqual(r.findings.map((f) => [f.symbol, f.score]).sort(), [['RBL_BROKEN_UNAVAILABLE', 0], ['RBL_DEAD_UNAVAILABLE', 0], ['RBL_PBL', 5]]);
    await dns.setBehaviour('broken.test', null);
  });

  it('one slow list does not hold up a listing found in another, nor the connect reply', async () => {
    const h = await pluginHarness(rbl, {
      zones: [{ zone: 'slow.test', action: 'reject' }, { zone: 'bl.test', action: 'reject', text: 'fast' }],
    }, dns.address, { timeout: 3000 });
    const r = await h.connect({ ip: LISTED }).run('connect');
    assert.equal(r.outcome?.text, 'fast');
    assert.ok(r.ms < 500, `connect took ${r.ms} ms`);
    // A slow score-only list is not awaited before DATA.
    const h2 = await pluginHarness(rbl, { zones: [{ zone: 'slow.test' }, { zone: 'pbl.test' }] }, dns.address, { timeout: 3000 });
    const c = h2.connect({ ip: LISTED });
    const con = await c.run('connect');
    assert.ok(con.ms < 100, `connect took ${con.ms} ms`);
    const d = await c.run('data');
    assert.deepEqual(d.findings.map((f) => f.symbol).sort(), ['RBL_PBL', 'RBL_SLOW']);
  });

  it('asks all zones at once: the slowest zone sets the time, not the sum of their delays', async () => {
    await dns.setBehaviour('bl.test', { delay: 300 });
    await dns.setBehaviour('pbl.test', { delay: 300 });
    try {
      const h = await pluginHarness(rbl, { zones: [{ zone: 'bl.test' }, { zone: 'pbl.test' }, { zone: 'slow.test' }] }, dns.address, { timeout: 3000 });
      const c = h.connect({ ip: LISTED });
      const t0 = Date.now();
      await c.run('connect');
      const d = await c.run('data');
      const took = Date.now() - t0;
      // bl.test answers 127.0.0.2 and 127.0.0.4, neither mapped: one RBL_BL, as in every other list.
      assert.deepEqual(d.findings.map((f) => f.symbol).sort(), ['RBL_BL', 'RBL_PBL', 'RBL_SLOW']);
      assert.ok(took >= 950 && took < 1500, `took ${took} ms`);
    } finally {
      await dns.setBehaviour('bl.test', null);
      await dns.setBehaviour('pbl.test', null);
    }
  });

  it('ignores answers outside 127/8 and the list\'s refusal code 127.255.255.x', async () => {
    const h = await pluginHarness(rbl, { zones: [{ zone: 'refused.test', action: 'reject' }] }, dns.address);
    const c = h.connect({ ip: LISTED });
    assert.equal((await c.run('connect')).outcome, undefined);
    assert.deepEqual((await c.run('data')).findings, []);
  });
});

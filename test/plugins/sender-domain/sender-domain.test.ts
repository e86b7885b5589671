// sender-domain against the loopback DNS server: MX, A-only, AAAA-only, null MX, NXDOMAIN, no address, timeouts.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import senderDomain from '../../../plugins/sender-domain/index.ts';
import { pluginHarness } from '../rbl/harness.ts';

describe('plugins/sender-domain', () => {
  let dns: DnsTestServer;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        'mx.test': { '@': { MX: '10 in.mx.test' }, in: { A: '192.0.2.25' } },
        'aonly.test': { '@': { A: '192.0.2.26' } },
        'v6only.test': { '@': { AAAA: '2001:db8::26' } },
        'nullmx.test': { '@': { MX: '0 .', A: '192.0.2.27' } },
        'noaddr.test': { '@': { TXT: 'v=spf1 -all' }, www: { A: '192.0.2.28' } },
        'dead.test': { '@': { MX: '10 in.dead.test' } },
        'mxdead.test': { '@': { A: '192.0.2.29' } },
        'xn--bcher-kva.test': { '@': { MX: '10 in.mx.test' } },
        'formerr.test': { '@': { A: '192.0.2.30' } },
      },
      behaviours: { 'dead.test': { drop: true }, 'formerr.test': { rcode: 'FORMERR' } },
    });
  });
  after(() => dns?.stop());

  const from = async (opts: object, sender: string, session: object = {}) => {
    const h = await pluginHarness(senderDomain, opts, dns.address, { timeout: 200 });
    return h.connect(session).run('mailFrom', { mailFrom: sender });
  };

  it('accepts domains with an MX, with only an A, or with only an AAAA', async () => {
    for (const d of ['mx.test', 'aonly.test', 'v6only.test', 'MX.Test']) {
      const r = await from({}, `joe@${d}`);
      assert.equal(r.outcome, undefined, d);
      assert.deepEqual(r.findings, []);
    }
  });

  it('accepts an internationalized domain (SMTPUTF8) by its A-label', async () => {
    const r = await from({}, 'joe@bücher.test');
    assert.equal(r.outcome, undefined);
    assert.deepEqual(r.findings, []);
  });

  it('a server that answers FORMERR is a tempfail (451 4.4.3), never a 550', async () => {
    const r = await from({}, 'joe@formerr.test');
    assert.equal(r.outcome?.action, 'tempfail');
    assert.equal(r.outcome?.code, 451);
  });

  it('refuses a null MX (550 5.7.27) even when the domain has an A record', async () => {
    const r = await from({}, 'joe@nullmx.test');
    assert.equal(r.outcome?.action, 'reject');
    assert.equal(r.outcome?.code, 550);
    assert.equal(r.outcome?.enhanced, '5.7.27');
    assert.match(String(r.outcome?.text), /null MX/);
  });

  it('refuses a domain that does not exist, and one without MX, A or AAAA (550 5.1.8)', async () => {
    const nx = await from({}, 'joe@nowhere.mx.test');
    assert.equal(nx.outcome?.action, 'reject');
    assert.equal(nx.outcome?.enhanced, '5.1.8');
    assert.match(String(nx.outcome?.text), /does not exist/);
    const none = await from({}, 'joe@noaddr.test');
    assert.equal(none.outcome?.action, 'reject');
    assert.match(String(none.outcome?.text), /no MX or address record/);
  });

  it('action: score records SENDER_DOMAIN_* findings instead of refusing', async () => {
    const r = await from({ action: 'score', score: 2.5 }, 'joe@nullmx.test');
    assert.equal(r.outcome, undefined);
    assert.deepEqual(r.findings.map((f) => [f.symbol, f.score, f.detail]), [['SENDER_DOMAIN_NULL_MX', 2.5, 'nullmx.test']]);
    assert.deepEqual((await from({ action: 'score' }, 'a@gone.test.mx.test')).findings.map((f) => f.symbol), ['SENDER_DOMAIN_NXDOMAIN']);
    assert.deepEqual((await from({ action: 'score' }, 'a@noaddr.test')).findings.map((f) => f.symbol), ['SENDER_DOMAIN_NO_ADDRESS']);
  });

  it('skips the null sender, address literals and trusted (authenticated) senders', async () => {
    assert.equal((await from({}, '')).outcome, undefined);
    assert.equal((await from({}, 'joe@[192.0.2.1]')).outcome, undefined);
    assert.equal((await from({}, 'joe@nullmx.test', { trusted: true, user: 'joe' })).outcome, undefined);
  });

  it('a lookup that times out is a tempfail (451 4.4.3), never a pass; on_error: skip records SENDER_DOMAIN_UNAVAILABLE', async () => {
    const r = await from({}, 'joe@dead.test');
    assert.equal(r.outcome?.action, 'tempfail');
    assert.equal(r.outcome?.code, 451);
    assert.equal(r.outcome?.enhanced, '4.4.3');
    const s = await from({ on_error: 'skip' }, 'joe@dead.test');
    assert.equal(s.outcome, undefined);
    assert.deepEqual(s.findings.map((f) => [f.symbol, f.score]), [['SENDER_DOMAIN_UNAVAILABLE', 0]]);
  });

  it('an A record does not pass a domain whose MX lookup timed out (it could be a null MX)', async () => {
    await dns.setBehaviour('mxdead.test', { drop: true, types: ['MX'] });
    const r = await from({}, 'joe@mxdead.test');
    assert.equal(r.outcome?.action, 'tempfail');
    await dns.setBehaviour('mxdead.test', null);
    assert.equal((await from({}, 'joe@mxdead.test')).outcome, undefined);
  });
});

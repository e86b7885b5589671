// GET /health/ready and DNS, as an SRE sees it with a blocklist set to defer on DNS trouble (rbl on_error: tempfail):
// a real gateway asks a real DNS server on loopback, made to fail. While nearly every query gets SERVFAIL or no answer,
// every client gets 421 and the gateway reads 503 with a `dns` check; once answers come back it reads 200 again
// without mail to tell it (the balancer sent none meanwhile). NXDOMAIN, a blocklist's "not listed", is no failure.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { readinessChecks } from '../../../core/http/readiness-checks.ts';
import { createResolver, LookupStats } from '../../../core/dns/index.ts';
import type { StateStore } from '../../../core/store/types.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { scrapeMetrics } from '../metrics-scrape.ts';

interface Check { name: string; status: string; problem?: string }
interface Ready { code: number; status: string; reason?: string; checks?: Check[] }

const adminPort = (gw: TestGateway) => gw.gateway.admin!.addresses[0].port;

async function ready(gw: TestGateway): Promise<Ready> {
  const r = await fetch(`http://127.0.0.1:${adminPort(gw)}/health/ready`);
  return { code: r.status, ...(await r.json() as Omit<Ready, 'code'>) };
}

const scrape = async (gw: TestGateway) => (await scrapeMetrics(gw)).samples;

let clients = 0;

/**
 * What a new client (through XCLIENT, from an address of its own) hears once the connect checks ran: 250 to its EHLO,
 * or the blocklist's refusal.
 */
async function hello(gw: TestGateway): Promise<number> {
  const d = await SmtpDialog.connect(gw.port);
  try { return (await d.hello({ xclient: { addr: `192.0.2.${++clients % 250 + 1}` } })).code; } finally { await d.quit(); }
}

/** The first /health/ready answer `wanted` takes, asked every 50 ms. */
function readyWhen(gw: TestGateway, what: string, wanted: (r: Ready) => boolean): Promise<Ready> {
  return waitFor(what, async () => { const r = await ready(gw); return wanted(r) ? r : undefined; }, 15_000);
}

describe('GET /health/ready when DNS fails', function () {
  this.timeout(60_000);
  let dns: DnsTestServer;
  const gateways: TestGateway[] = [];
  const gatewayWith = async (config: Record<string, unknown>): Promise<TestGateway> => {
    const gw = await startGateway({
      config: { http: { listen: ['127.0.0.1:0'] }, dns: { servers: [dns.address], timeout: '200ms', tries: 1 }, ...config },
    });
    gateways.push(gw);
    return gw;
  };
  const blocklist = { name: 'rbl', zones: [{ zone: 'bl.test', action: 'reject', on_error: 'tempfail' }] };

  before(async () => { dns = await startDnsServer({ zones: { 'bl.test': { '2.0.0.127': { A: ['127.0.0.2'] } } } }); });
  after(async () => { await dns?.stop(); });
  afterEach(async () => {
    await dns.clearBehaviours();
    for (const gw of gateways.splice(0)) await gw.stop();
  });

  it('reads 503 while queries get SERVFAIL and clients get 421, and 200 once answers return, with no mail meanwhile', async () => {
    const gw = await gatewayWith({ plugins: [blocklist] });
    assert.equal(await hello(gw), 250, 'not listed: NXDOMAIN');
    const first = await ready(gw);
    assert.equal(first.code, 200);
    assert.deepEqual(first.checks, [{ name: 'dns', status: 'ok' }]);

    await dns.setBehaviour('.', { rcode: 'SERVFAIL' });
    for (let i = 0; i < 6; i++) assert.equal(await hello(gw), 421, 'the blocklist defers the client');
    const down = await readyWhen(gw, '503 for DNS', (r) => r.code === 503);
    assert.equal(down.status, 'unavailable');
    const check = down.checks?.find((c) => c.name === 'dns');
    assert.equal(check?.status, 'tempfail');
    assert.match(check?.problem ?? '', /DNS: \d+ of \d+ queries in the last 30 s got no answer; the latest, A \d+\.2\.0\.192\.bl\.test: SERVFAIL; meanwhile mail is deferred with 4xx \(plugin rbl\)$/);
    assert.match(down.reason ?? '', /^dns: DNS: /);
    const failing = await scrape(gw);
    assert.ok(failing.get('mailmoat_dns_errors_total{error="SERVFAIL"}')! >= 6);
    assert.equal(failing.get('mailmoat_dns_answers_total{answer="NXDOMAIN"}'), 1);

    // No client comes while the balancer keeps the gateway out: the check's own query finds the answers back.
    await dns.clearBehaviours();
    const back = await readyWhen(gw, '200 once DNS answers', (r) => r.code === 200);
    assert.equal(back.status, 'ok');
    assert.deepEqual(back.checks, [{ name: 'dns', status: 'ok' }]);
    assert.ok(gw.logs.some((l) => l.msg === 'readiness check passing again'));
    assert.equal(await hello(gw), 250);
  });

  it('reads 503 while queries go unanswered (timeouts), and stays so while the outage goes on', async () => {
    const gw = await gatewayWith({ plugins: [blocklist] });
    await dns.setBehaviour('.', { drop: true });
    for (let i = 0; i < 5; i++) assert.equal(await hello(gw), 421);
    const down = await readyWhen(gw, '503 for DNS timeouts', (r) => r.code === 503);
    assert.match(down.checks?.find((c) => c.name === 'dns')?.problem ?? '', /: TIMEOUT; /);
    // With no client coming, each round asks the failing name again itself, and finds it failing still.
    const asked = (await dns.queries()).length;
    const again = await waitFor('a query of the check itself', async () => {
      const r = await ready(gw);
      return (await dns.queries()).length > asked ? r : undefined;
    });
    assert.equal(again.code, 503);
    const samples = await scrape(gw);
    assert.ok(samples.get('mailmoat_dns_errors_total{error="TIMEOUT"}')! >= 5);
  });

  it('stays 200 ok while every lookup answers NXDOMAIN, a blocklist\'s "not listed"', async () => {
    const gw = await gatewayWith({ plugins: [blocklist], dns: { servers: [dns.address], timeout: '200ms', tries: 1, cache_size: 0 } });
    for (let i = 0; i < 8; i++) assert.equal(await hello(gw), 250);
    const r = await ready(gw);
    assert.equal(r.code, 200);
    assert.deepEqual(r.checks, [{ name: 'dns', status: 'ok' }]);
    const samples = await scrape(gw);
    assert.equal(samples.get('mailmoat_dns_answers_total{answer="NXDOMAIN"}'), 8);
    for (const error of ['TIMEOUT', 'SERVFAIL', 'REFUSED', 'OTHER']) assert.equal(samples.get(`mailmoat_dns_errors_total{error="${error}"}`), 0);
  });

  it('stays down after its 30 s of failures have aged out, until a query is answered (a clock of the test\'s own)', async () => {
    let clock = Date.now();
    const stats = new LookupStats(() => clock);
    const resolver = createResolver({ servers: [dns.address], timeout: 200, tries: 1 }, undefined, { stats });
    // A store with no server to ask: the embedded file, which the disk check covers.
    const store = {} as StateStore;
    const entry = (name: string, options: Record<string, unknown> = {}) => ({ name, required: false, timeout: 30_000, ...options });
    const check = async (config: { plugins: ReturnType<typeof entry>[]; routes: Record<string, string> }) => {
      const found = await readinessChecks({ plugins: () => [], store, dns: { stats, resolver: () => resolver, config: () => config } });
      return found.find((c) => c.name === 'dns');
    };
    const withPlugin = { plugins: [entry('rbl', { zones: [{ zone: 'bl.test', on_error: 'tempfail' }] })], routes: {} };
    await dns.setBehaviour('.', { rcode: 'SERVFAIL' });
    for (let i = 0; i < 4; i++) await resolver.resolve4(`${i}.bl.test`).catch(() => undefined);
    assert.equal(await (await check(withPlugin))!.run(500), undefined, 'four failures are too few to call DNS down');
    await resolver.resolve4('4.bl.test').catch(() => undefined);
    assert.equal((await (await check(withPlugin))!.run(500))?.effect, 'tempfail');
    clock += 40_000;
    assert.equal(stats.recent().queries, 0, 'the failures have aged out');
    const still = await (await check(withPlugin))!.run(500);
    assert.equal(still?.effect, 'tempfail', 'still down: the name asked again fails');
    assert.equal(still!.problem, 'DNS: 1 of 1 queries in the last 30 s got no answer; the latest, A 4.bl.test: SERVFAIL; meanwhile mail is deferred with 4xx (plugin rbl)');
    // A blocklist that skips an unanswered zone, and routes via mx: mail is still taken, checked less or delivered later.
    const skipping = await (await check({ plugins: [entry('rbl', { zones: [{ zone: 'bl.test', on_error: 'skip' }] })], routes: { '*': 'mx' } }))!.run(500);
    assert.deepEqual(skipping, {
      effect: 'degraded',
      problem: 'DNS: 2 of 2 queries in the last 30 s got no answer; the latest, A 4.bl.test: SERVFAIL; meanwhile checks that look names up go without answers (plugin rbl); deliveries to MX hosts wait (route * via mx)',
    });
    assert.equal((await (await check({ plugins: [], routes: { '*': 'mx' } }))!.run(500))?.effect, 'degraded');
    assert.equal(await check({ plugins: [], routes: {} }), undefined, 'nothing uses the resolver');
    // A virus scanner and filter rules never look a name up: no DNS check for them, dead resolver or not.
    assert.equal(await check({ plugins: [entry('clamav', { socket: '/nonexistent/clamd.sock' }), entry('rules', { rules: [] })], routes: {} }), undefined);
    await dns.clearBehaviours();
    assert.equal(await (await check(withPlugin))!.run(500), undefined, 'an answer (NXDOMAIN) brings it back');
    assert.deepEqual(stats.recent(), { queries: 4, failed: 3, lastFailed: false, failedInARow: 0, lastFailure: { name: '4.bl.test', type: 'A', error: 'SERVFAIL' } });
  });

  it('asks nothing of DNS when no plugin and no route via mx uses the resolver', async () => {
    const gw = await gatewayWith({});
    const r = await ready(gw);
    assert.equal(r.code, 200);
    assert.equal(r.checks, undefined, 'no check to show');
  });
});

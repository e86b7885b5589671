// The shared resolver against real DNS servers on loopback: records, negative answers, cache, timeouts, failover, TCP.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { createResolver } from '../../../core/dns/index.ts';
import { DnsError } from '../../../core/dns/types.ts';
import type { Logger, LogFields } from '../../../core/log/types.ts';

function memoryLog(lines: Array<{ msg: string; fields?: LogFields }>): Logger {
  const log: Logger = {
    debug: (msg, fields) => { lines.push({ msg, fields }); },
    info: () => undefined, warn: () => undefined, error: () => undefined,
    child: () => log,
  };
  return log;
}

async function rejects(p: Promise<unknown>, code: string): Promise<DnsError> {
  try { await p; } catch (e) {
    assert.ok(e instanceof DnsError, `expected a DnsError, got ${e}`);
    assert.equal(e.code, code);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('core/dns resolver', () => {
  let a: DnsTestServer;
  let b: DnsTestServer;
  before(async () => {
    const zones = {
      'example.test': {
        '@': { MX: [{ priority: 10, exchange: 'mx.example.test' }], TXT: [['v=spf1 ', 'ip4:192.0.2.0/24 -all']], SOA: { minimum: 30 } },
        mx: { A: ['192.0.2.10', '192.0.2.11'], AAAA: ['2001:db8::10'], ttl: 120 },
        www: { CNAME: 'mx.example.test', ttl: 20 },
        big: { TXT: ['k=' + 'a'.repeat(1500)] },
        'x.empty': { A: '192.0.2.1' },
      },
      'nullmx.test': { '@': { MX: '0 .' } },
      '2.0.192.in-addr.arpa': { '10': { PTR: 'mx.example.test' } },
      '8.b.d.0.1.0.0.2.ip6.arpa': { '0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0': { PTR: 'v6.example.test' } },
    };
    [a, b] = await Promise.all([startDnsServer({ zones }), startDnsServer({ zones })]);
  });
  after(async () => { await Promise.all([a?.stop(), b?.stop()]); });
  beforeEach(async () => {
    await Promise.all([a.clearBehaviours(), b.clearBehaviours(), a.resetQueries(), b.resetQueries()]);
  });

  it('answers A, AAAA, MX, null MX, TXT (strings joined), CNAME chains and PTR for IPv4 and IPv6', async () => {
    const r = createResolver({ servers: [a.address], timeout: 500, tries: 1 });
    assert.deepEqual((await r.resolve4('MX.example.test.')).sort(), ['192.0.2.10', '192.0.2.11']);
    assert.deepEqual(await r.resolve6('mx.example.test'), ['2001:db8::10']);
    assert.deepEqual(await r.resolveMx('example.test'), [{ exchange: 'mx.example.test', priority: 10 }]);
    assert.deepEqual(await r.resolveMx('nullmx.test'), [{ exchange: '', priority: 0 }]);
    assert.deepEqual(await r.resolveTxt('example.test'), ['v=spf1 ip4:192.0.2.0/24 -all']);
    assert.deepEqual((await r.resolve4('www.example.test')).sort(), ['192.0.2.10', '192.0.2.11']);
    assert.deepEqual(await r.resolveCname('www.example.test'), ['mx.example.test']);
    assert.deepEqual(await r.reverse('192.0.2.10'), ['mx.example.test']);
    assert.deepEqual(await r.reverse('2001:db8::10'), ['v6.example.test']);
    assert.deepEqual(await r.reverse('::ffff:192.0.2.10'), ['mx.example.test']);
  });

  it('reports NXDOMAIN and NODATA (also for an empty non-terminal) as permanent not-found errors', async () => {
    const r = createResolver({ servers: [a.address], timeout: 500, tries: 1 });
    const nx = await rejects(r.resolve4('nope.example.test'), 'NXDOMAIN');
    assert.equal(nx.notFound, true);
    assert.equal(nx.temporary, false);
    await rejects(r.resolveMx('mx.example.test'), 'NODATA');
    await rejects(r.resolve4('empty.example.test'), 'NODATA');
    await rejects(r.reverse('192.0.2.99'), 'NXDOMAIN');
  });

  it('rejects invalid names without asking the server', async () => {
    const r = createResolver({ servers: [a.address], timeout: 500, tries: 1 });
    await rejects(r.resolve4(`${'a'.repeat(64)}.example.test`), 'FORMERR');
    await rejects(r.resolve4('a..b'), 'FORMERR');
    await rejects(r.reverse('not-an-ip'), 'FORMERR');
    assert.equal((await a.queries()).length, 0);
  });

  it('caches answers for their TTL (the smallest in a CNAME chain) and asks again once it ran out', async () => {
    let clock = 1_000_000;
    const r = createResolver({ servers: [a.address], timeout: 500, tries: 1 }, undefined, { now: () => clock });
    await r.resolve4('mx.example.test');
    await r.resolve4('mx.example.test');
    clock += 119_000;
    await r.resolve4('mx.example.test');
    assert.equal((await a.queries()).length, 1);
    clock += 2000;
    await r.resolve4('mx.example.test');
    assert.equal((await a.queries()).length, 2);
    await r.resolve4('www.example.test');
    clock += 21_000;
    await r.resolve4('www.example.test');
    assert.equal((await a.queries()).filter((q) => q.name === 'www.example.test').length, 2);
    const st = r.stats();
    assert.equal(st.lookups, 6);
    assert.equal(st.cache_hits, 2);
    assert.equal(st.queries, 4);
  });

  it('caches negative answers for the SOA minimum, or negative_ttl when the server sent no SOA', async () => {
    let clock = 1_000_000;
    const r = createResolver({ servers: [a.address], timeout: 500, tries: 1, negative_ttl: 5000 }, undefined, { now: () => clock });
    await rejects(r.resolve4('gone.example.test'), 'NXDOMAIN');
    clock += 29_000;
    await rejects(r.resolve4('gone.example.test'), 'NXDOMAIN');
    await rejects(r.resolveMx('mx.example.test'), 'NODATA');
    await rejects(r.resolveMx('mx.example.test'), 'NODATA');
    assert.equal((await a.queries()).length, 2);
    clock += 2000;
    await rejects(r.resolve4('gone.example.test'), 'NXDOMAIN');
    assert.equal((await a.queries()).length, 3);

    await a.setBehaviour('nosoa.test', { rcode: 'NXDOMAIN' });
    await rejects(r.resolve4('x.nosoa.test'), 'NXDOMAIN');
    clock += 4000;
    await rejects(r.resolve4('x.nosoa.test'), 'NXDOMAIN');
    clock += 2000;
    await rejects(r.resolve4('x.nosoa.test'), 'NXDOMAIN');
    assert.equal((await a.queries()).filter((q) => q.name === 'x.nosoa.test').length, 2);
  });

  it('turns a server that never answers into a temporary TIMEOUT after timeout × tries, and does not cache it', async () => {
    const r = createResolver({ servers: [a.address], timeout: 150, tries: 2 });
    await a.setBehaviour('example.test', { drop: true });
    const t0 = Date.now();
    const e = await rejects(r.resolve4('mx.example.test'), 'TIMEOUT');
    const took = Date.now() - t0;
    assert.equal(e.temporary, true);
    assert.equal(e.notFound, false);
    assert.ok(took >= 290 && took < 1000, `took ${took} ms`);
    assert.equal((await a.queries()).length, 2);
    await a.setBehaviour('example.test', null);
    assert.deepEqual((await r.resolve4('mx.example.test')).length, 2);
    assert.equal(r.stats().errors.TIMEOUT, 1);
  });

  it('moves on to the next server when one times out or fails (host:port entries)', async () => {
    await a.setBehaviour('.', { drop: true });
    const r = createResolver({ servers: [a.address, b.address], timeout: 150, tries: 1 });
    const results = await Promise.all([r.resolve4('mx.example.test'), r.resolveMx('example.test'), r.resolveTxt('example.test')]);
    assert.equal(results[0].length, 2);
    await a.setBehaviour('.', { rcode: 'SERVFAIL' });
    await b.setBehaviour('.', null);
    assert.deepEqual(await r.resolve6('mx.example.test'), ['2001:db8::10']);
    await b.setBehaviour('.', { rcode: 'SERVFAIL' });
    const e = await rejects(r.resolve4('x.empty.example.test'), 'SERVFAIL');
    assert.equal(e.temporary, true);
  });

  it('retries over TCP when the UDP answer is truncated', async () => {
    const r = createResolver({ servers: [a.address], timeout: 500, tries: 1 });
    const [txt] = await r.resolveTxt('big.example.test');
    assert.equal(txt.length, 1502);
    assert.deepEqual((await a.queries()).map((q) => q.transport), ['udp', 'tcp']);
  });

  it('runs lookups in parallel: a slow name does not hold up the others; identical lookups share one query', async () => {
    await a.setBehaviour('mx.example.test', { delay: 400 });
    const r = createResolver({ servers: [a.address], timeout: 2000, tries: 1 });
    const t0 = Date.now();
    const slow = r.resolve4('mx.example.test').then(() => Date.now() - t0);
    const fast = Promise.all([r.resolveMx('example.test'), r.resolveTxt('example.test'), r.reverse('192.0.2.10')]).then(() => Date.now() - t0);
    const same = r.resolve4('mx.example.test');
    const [slowMs, fastMs] = await Promise.all([slow, fast, same]);
    assert.ok(fastMs < 200, `fast lookups took ${fastMs} ms`);
    assert.ok(slowMs >= 390, `slow lookup took ${slowMs} ms`);
    assert.equal((await a.queries()).filter((q) => q.name === 'mx.example.test').length, 1);
    assert.equal(r.stats().joined, 1);
  });

  it('logs each network lookup at debug level and reports lookup times in stats()', async () => {
    const lines: Array<{ msg: string; fields?: LogFields }> = [];
    const r = createResolver({ servers: [a.address], timeout: 500, tries: 1 }, memoryLog(lines));
    await r.resolve4('mx.example.test');
    await rejects(r.resolve4('nope.example.test'), 'NXDOMAIN');
    const lookups = lines.filter((l) => l.msg === 'dns lookup');
    assert.equal(lookups.length, 2);
    assert.equal(lookups[0].fields?.result, 'NOERROR');
    assert.equal(lookups[0].fields?.server, a.address);
    assert.equal(lookups[1].fields?.result, 'NXDOMAIN');
    assert.equal(typeof lookups[0].fields?.ms, 'number');
    const st = r.stats();
    const q = st.query_duration_seconds;
    assert.equal(q.count, 2);
    assert.ok(q.p99! >= q.p50! && q.max! > 0 && q.sum >= q.max!);
    assert.deepEqual([st.answers.NOERROR, st.answers.NXDOMAIN], [1, 1], 'NXDOMAIN is an answer');
    assert.deepEqual(st.errors, { TIMEOUT: 0, SERVFAIL: 0, REFUSED: 0, OTHER: 0 });
  });

  it('parses server entries and refuses names that are not addresses', () => {
    assert.doesNotThrow(() => createResolver({ servers: ['127.0.0.1', '127.0.0.1:5353', '[::1]:53', '::1'], timeout: 100, tries: 1 }));
    assert.throws(() => createResolver({ servers: ['dns.example'], timeout: 100, tries: 1 }), /not an IP address/);
    assert.throws(() => createResolver({ servers: ['127.0.0.1:70000'], timeout: 100, tries: 1 }), /bad port/);
  });
});

// A server that answers each query with whatever datagrams the test hands back, to play a broken or hostile resolver.
type Reply = (q: dnsPacket.DecodedPacket, edns: boolean) => Buffer[];
async function scriptedServer(host: string): Promise<{ port: number; reply: (r: Reply) => void; close: () => Promise<void> }> {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let handler: Reply = () => [];
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const edns = (q.additionals ?? []).some((a) => a.type === 'OPT');
    for (const b of handler(q, edns)) sock.send(b, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, host, () => resolve()));
  return { port: sock.address().port, reply: (r) => { handler = r; }, close: () => new Promise<void>((resolve) => sock.close(() => resolve())) };
}

function response(q: dnsPacket.DecodedPacket, over: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: q.questions, ...over });
}

describe('core/dns resolver against broken and hostile servers', () => {
  let srv: Awaited<ReturnType<typeof scriptedServer>>;
  before(async () => { srv = await scriptedServer('127.0.0.1'); });
  after(() => srv.close());
  const resolver = () => createResolver({ servers: [`127.0.0.1:${srv.port}`], timeout: 300, tries: 1 });
  const a = (q: dnsPacket.DecodedPacket, ip: string) => [{ type: 'A' as const, name: q.questions![0].name, ttl: 60, data: ip }];

  it('ignores answers with another id, another question or a compression pointer loop, and takes the real one', async () => {
    srv.reply((q) => {
      const loop = Buffer.alloc(18);
      loop.writeUInt16BE(q.id!, 0); loop.writeUInt16BE(0x8180, 2); loop.writeUInt16BE(1, 4);
      loop.writeUInt16BE(0xc00c, 12); loop.writeUInt16BE(1, 14); loop.writeUInt16BE(1, 16);
      return [
        response({ ...q, id: (q.id! + 1) % 65536 }, { answers: a(q, '192.0.2.66') }),
        response({ ...q, questions: [{ type: 'A', name: 'other.test' }] }, { answers: [{ type: 'A', name: 'other.test', ttl: 60, data: '192.0.2.67' }] }),
        loop,
        response(q, { answers: a(q, '192.0.2.1') }),
      ];
    });
    assert.deepEqual(await resolver().resolve4('real.test'), ['192.0.2.1']);
  });

  it('a server FORMERR is a temporary failure, never a not-found; without EDNS the query is asked again', async () => {
    srv.reply((q) => [response(q, { flags: dnsPacket.RECURSION_AVAILABLE | 1 })]);
    const e = await rejects(resolver().resolveMx('old.test'), 'OTHER');
    assert.equal(e.temporary, true);
    srv.reply((q, edns) => [edns ? response(q, { flags: dnsPacket.RECURSION_AVAILABLE | 1 }) : response(q, { answers: a(q, '192.0.2.2') })]);
    assert.deepEqual(await resolver().resolve4('noedns.test'), ['192.0.2.2']);
  });

  it('a referral (the server does not recurse for us) is a temporary failure, not NODATA', async () => {
    srv.reply((q) => [response(q, { flags: 0, authorities: [{ type: 'NS', name: 'test', ttl: 3600, data: 'ns.test' }] })]);
    const e = await rejects(resolver().resolveMx('lame.test'), 'OTHER');
    assert.equal(e.temporary, true);
  });

  it('sends internationalized names as A-labels', async () => {
    const asked: string[] = [];
    srv.reply((q) => { asked.push(q.questions![0].name); return [response(q, { answers: [{ type: 'MX', name: q.questions![0].name, ttl: 60, data: { preference: 10, exchange: 'mx.test' } }] })]; });
    assert.deepEqual(await resolver().resolveMx('Bücher.test.'), [{ exchange: 'mx.test', priority: 10 }]);
    assert.deepEqual(asked, ['xn--bcher-kva.test']);
    await rejects(resolver().resolve4('bü cher.test'), 'FORMERR');
  });

  it('takes answers from an IPv6 server however its address is spelled in dns.servers', async () => {
    const v6 = await scriptedServer('::1');
    try {
      v6.reply((q) => [response(q, { answers: a(q, '192.0.2.3') })]);
      const r = createResolver({ servers: [`[0:0:0:0:0:0:0:1]:${v6.port}`], timeout: 300, tries: 1 });
      assert.deepEqual(await r.resolve4('v6.test'), ['192.0.2.3']);
    } finally { await v6.close(); }
  });
});

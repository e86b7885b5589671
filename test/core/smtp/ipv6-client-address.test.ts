// The client address a real gateway on ::1 takes from a trusted proxy, in every spelling an address can have: an
// IPv4-mapped address in hex (`::ffff:c000:281`) is the IPv4 client it is for deny_ips, the blocklists, SPF, the log
// and Received, as the dotted form always was; PROXY headers whose family does not fit their addresses are refused;
// one bad session from the proxy's own address does not block every client behind it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway, startRelayingGateway, type RelayingGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/** 192.0.2.129 and 198.51.100.7 as IPv4-mapped addresses in hex. */
const DENIED_HEX = '::ffff:c000:281';
const CLEAN_HEX = '::ffff:c633:6407';

/** Everything a connection from ::1 that sends `header` first is told until it closes (or `ms` pass). */
function rawAnswer(port: number, header: string, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect({ port, host: '::1' }, () => s.write(header));
    const timer = setTimeout(() => { s.destroy(); resolve(got); }, ms);
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); resolve(got); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

describe('client addresses from a trusted proxy on ::1', function () {
  this.timeout(60_000);
  let dns: DnsTestServer;
  let proxied: RelayingGateway;
  let xclient: TestGateway;

  before(async () => {
    dns = await startDnsServer({
      host: '::1',
      zones: {
        'bl.test': { '7.100.51.198': { A: '127.0.0.2' } },
        'sender.test': { '@': { TXT: 'v=spf1 ip4:198.51.100.0/24 -all' } },
      },
    });
    const dnsConfig = { servers: [dns.address], timeout: '1s', tries: 1 };
    proxied = await startRelayingGateway({
      config: {
        dns: dnsConfig,
        server: { listen: ['[::1]:0'], trusted_proxies: ['::1/128'], proxy_protocol: true },
        access: { deny_ips: ['192.0.2.128/25'] },
        limits: { max_errors: 2, error_block: '1m' },
        plugins: [
          { name: 'rbl', zones: [{ zone: 'bl.test', action: 'score', score: 1 }] },
          { name: 'spf', check_helo: false },
        ],
      },
    });
    xclient = await startGateway({
      config: {
        server: { listen: ['[::1]:0'], trusted_proxies: ['::1/128'] },
        limits: { max_errors: 2, error_block: '1m', max_connections_per_ip: 1 },
      },
    });
  });
  after(async () => {
    await proxied?.stop();
    await xclient?.stop();
    await dns?.stop();
  });

  const proxiedPort = () => proxied.gateway.listeners[0].port;

  async function viaProxy(header: string): Promise<{ d: SmtpDialog; greeting: Awaited<ReturnType<SmtpDialog['read']>> }> {
    const d = await SmtpDialog.connect(proxiedPort(), '::1');
    d.write(header);
    return { d, greeting: await d.read() };
  }

  it('refuses an IPv4-mapped address in hex in a PROXY header by access.deny_ips, as its dotted form is', async () => {
    for (const src of [DENIED_HEX, '0:0:0:0:0:FFFF:C000:0281', '::ffff:192.0.2.129']) {
      const { d, greeting } = await viaProxy(`PROXY TCP6 ${src} ::1 1 25\r\n`);
      assert.equal(greeting.code, 554, `${src}: ${greeting.code} ${greeting.text}`);
      d.hangUp();
    }
    const refused = proxied.logs.filter((l) => l.msg === 'client refused by access.deny_ips').map((l) => l.client);
    assert.deepEqual(refused, ['192.0.2.129', '192.0.2.129', '192.0.2.129']);
  });

  it('checks a client named in hex by its IPv4 address: blocklist, SPF, the log and Received', async () => {
    const { d, greeting } = await viaProxy(`PROXY TCP6 ${CLEAN_HEX} ::1 40000 25\r\n`);
    assert.equal(greeting.code, 220, `${greeting.code} ${greeting.text}`);
    assert.equal((await d.cmd('EHLO [IPv6:2001:DB8::5]')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<alice@sender.test>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.data(testMessage({ from: 'alice@sender.test', subject: 'hex-mapped' }))).code, 250);
    await d.quit();
    const line = await waitFor('the summary line', () => proxied.logs.find((l) => l.msg === 'message' && l.client === '198.51.100.7'));
    const symbols = line.symbols as string[];
    assert.ok(symbols.includes('RBL_BL(1)'), `looked up as 7.100.51.198.bl.test: ${symbols}`);
    assert.ok(symbols.some((s) => s.startsWith('SPF_PASS')), `ip4: matched: ${symbols}`);
    const raw = await proxied.sink.waitForText('hex-mapped');
    assert.match(raw, /^Received-SPF: pass .*client-ip=198\.51\.100\.7;/m);
    assert.match(raw, /\[198\.51\.100\.7\]/, 'Received names the IPv4 client');
    assert.doesNotMatch(raw, /c633:6407/);
    // The HELO literal's tag as RFC 5321 writes it, in Received-SPF as in Received.
    assert.match(raw, /^Received-SPF: .*helo="\[IPv6:2001:db8::5\]"/m);
    assert.match(raw, /^Received: from \[IPv6:2001:db8::5\]/m);
  });

  it('refuses a PROXY header whose addresses are not of the family it names, and ignores what follows UNKNOWN', async () => {
    for (const header of ['PROXY TCP4 2001:db8::5 127.0.0.1 1 25\r\n', 'PROXY TCP6 192.0.2.7 ::1 1 25\r\n', 'PROXY TCP6 2001:db8::5 127.0.0.1 1 25\r\n']) {
      const answer = await rawAnswer(proxiedPort(), header);
      assert.equal(answer, '* BAD Invalid PROXY header\r\n', `${header.trim()}: ${JSON.stringify(answer)}`);
    }
    const lines = await waitFor('three refusals', () => {
      const l = proxied.logs.filter((x) => x.msg === 'client refused: invalid PROXY header');
      return l.length >= 3 ? l : undefined;
    });
    assert.match(String(lines[0].reason), /source address is not IPv4 as TCP4 says/);
    assert.equal(lines[0].proxy, '::1');
    // HAProxy's spec: the receiver takes the connection's own addresses after UNKNOWN, not the ones a sender put there.
    const { d, greeting } = await viaProxy(`PROXY UNKNOWN ${DENIED_HEX} ::1 1 25\r\n`);
    assert.equal(greeting.code, 220, `${greeting.code} ${greeting.text}`);
    assert.equal((await d.cmd('EHLO proxy.test')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@sender.test>')).code, 250, 'checked as the proxy itself, not the address after UNKNOWN');
    await d.quit();
  });

  it('does not block the proxy\'s own address after its own session ran into max_errors (PROXY UNKNOWN)', async () => {
    const { d, greeting } = await viaProxy('PROXY UNKNOWN\r\n');
    assert.equal(greeting.code, 220);
    await d.cmd('EHLO proxy.test');
    assert.equal((await d.cmd('MAIL FROM:<a@sender.test>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<x@elsewhere.test>')).code, 554);
    assert.equal((await d.cmd('RCPT TO:<y@elsewhere.test>')).code, 554);
    assert.equal((await d.cmd('RCPT TO:<z@elsewhere.test>')).code, 421);
    d.hangUp();
    const line = await waitFor('the disconnect', () => proxied.logs.find((l) => l.msg === 'too many errors: disconnecting' && l.client === '::1'));
    assert.equal(line.blocked_ms, 0);
    const next = await viaProxy('PROXY UNKNOWN\r\n');
    assert.equal(next.greeting.code, 220, `${next.greeting.code} ${next.greeting.text}`);
    next.d.hangUp();
    const client = await viaProxy('PROXY TCP6 2001:db8:44::1 ::1 1 25\r\n');
    assert.equal(client.greeting.code, 220, `${client.greeting.code} ${client.greeting.text}`);
    client.d.hangUp();
  });

  it('XCLIENT: an IPv4-mapped ADDR in hex is its IPv4 client', async () => {
    const { d, greeting } = await viaProxy('PROXY UNKNOWN\r\n');
    assert.equal(greeting.code, 220);
    await d.cmd('EHLO proxy.test');
    const r = await d.cmd(`XCLIENT ADDR=IPV6:${DENIED_HEX}`);
    assert.equal(r.code, 554, `${r.code} ${r.text}`);
    d.hangUp();
    const refused = proxied.logs.filter((l) => l.msg === 'client refused by access.deny_ips').at(-1);
    assert.equal(refused?.client, '192.0.2.129');
  });

  it('blocks the client XCLIENT names after max_errors, never the proxy, and says "your network" for a /64', async () => {
    const port = xclient.gateway.listeners[0].port;
    // The proxy's own session, without XCLIENT, runs into max_errors.
    const own = await SmtpDialog.connect(port, '::1');
    assert.equal((await own.hello({ helo: 'proxy.test' })).code, 250);
    assert.equal((await own.cmd('MAIL FROM:<a@sender.test>')).code, 250);
    assert.equal((await own.cmd('RCPT TO:<x@elsewhere.test>')).code, 554);
    assert.equal((await own.cmd('RCPT TO:<y@elsewhere.test>')).code, 554);
    assert.equal((await own.cmd('RCPT TO:<z@elsewhere.test>')).code, 421);
    own.hangUp();
    // A client behind it may still be named, and is blocked on its own account.
    const bad = await SmtpDialog.connect(port, '::1');
    const hello = await bad.hello({ xclient: { addr: 'IPV6:2001:db8:77::1' } });
    assert.equal(hello.code, 250, `the proxy was blocked: ${hello.code} ${hello.text}`);
    assert.equal((await bad.cmd('MAIL FROM:<a@sender.test>')).code, 250);
    assert.equal((await bad.cmd('RCPT TO:<x@elsewhere.test>')).code, 554);
    assert.equal((await bad.cmd('RCPT TO:<y@elsewhere.test>')).code, 554);
    assert.equal((await bad.cmd('RCPT TO:<z@elsewhere.test>')).code, 421);
    bad.hangUp();
    const neighbour = await SmtpDialog.connect(port, '::1');
    const n = await neighbour.hello({ xclient: { addr: 'IPV6:2001:db8:77::2' } });
    assert.equal(n.code, 421, `${n.code} ${n.text}`);
    assert.match(n.text, /Too many errors from your network/);
    neighbour.hangUp();
    const blocked = xclient.logs.filter((l) => l.msg === 'too many errors: disconnecting').map((l) => [l.client, l.blocked_ms]);
    assert.deepEqual(blocked, [['::1', 0], ['2001:db8:77::1', 60_000]]);
  });

  it('says "from your network" when the connection cap counts a /64, "from your address" for an IPv4 address', async () => {
    const port = xclient.gateway.listeners[0].port;
    async function named(addr: string) {
      const d = await SmtpDialog.connect(port, '::1');
      return { d, r: await d.hello({ xclient: { addr } }) };
    }
    const first = await named('IPV6:2001:db8:66::1');
    assert.equal(first.r.code, 250);
    const second = await named('IPV6:2001:db8:66::2');
    assert.equal(second.r.code, 421);
    assert.match(second.r.text, /Too many connections from your network/);
    const v4a = await named('198.51.100.20');
    const v4b = await named(`IPV6:::ffff:c633:6414`);
    assert.equal(v4b.r.code, 421, 'the hex form of 198.51.100.20 is the same client');
    assert.match(v4b.r.text, /Too many connections from your address/);
    for (const x of [first, second, v4a, v4b]) x.d.hangUp();
  });
});

describe('an IPv6 smarthost written without brackets', () => {
  it('is refused at start with the bracketed form to write instead, the login left out', async () => {
    for (const [url, fix] of [
      ['smtp://::1:39262', 'smtp://[::1]:39262'],
      ['smtp://[IPv6:::1]:39262', 'smtp://[::1]:39262'],
      ['smtp://relay:s3cret@2001:db8::25:587', 'smtp://[2001:db8::25]:587'],
    ]) {
      await assert.rejects(startGateway({ config: { smarthost: url } }), (err: Error) => {
        assert.match(err.message, new RegExp(`put an IPv6 host in brackets: ${fix.replace(/[[\]]/g, '\\$&')}`));
        assert.doesNotMatch(err.message, /percent-encod|s3cret/);
        return true;
      });
    }
  });
});

describe('X-Forwarded-For from a trusted proxy, in any spelling', function () {
  this.timeout(30_000);
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ config: { http: { listen: ['127.0.0.1:0'], trusted_proxies: ['127.0.0.1'], allow_from: ['::1', '192.0.2.0/24'] } } });
  });
  after(() => g?.stop());

  it('logs and judges the client in its short form', async () => {
    const port = g.gateway.admin!.addresses[0].port;
    for (const [forwarded, client] of [['0:0:0:0:0:0:0:1', '::1'], ['::FFFF:C000:0207', '192.0.2.7']]) {
      const res = await fetch(`http://127.0.0.1:${port}/health/live`, { headers: { 'x-forwarded-for': forwarded } });
      assert.equal(res.status, 200, `${forwarded} is in allow_from`);
      await res.text();
      const line = await waitFor('the access line', () => g.logs.filter((l) => l.msg === 'http request' && l.path === '/health/live').at(-1));
      assert.equal(line.client, client);
      g.logs.length = 0;
    }
  });
});

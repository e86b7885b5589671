// IPv6 end to end, as an admin with a dual-stack MX sees it: listeners on [::1] and [::], clients named by XCLIENT
// and PROXY TCP6, IPv6 CIDRs in relay.networks, access.deny_ips and trusted_proxies, blocklists by reversed nibbles,
// SPF ip6:, forward-confirmed ip6.arpa PTR, a smarthost at smtp://[::1]:port, an MX host with only an AAAA record,
// and limits.error_block behind a proxy (per /64). The resolver itself asks a DNS server on ::1.
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { startDnsServer, type DnsTestServer } from '../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { CidrList, normalizeIp } from '../../core/net/cidr.ts';
import { reversedIp } from '../../core/net/dnsbl-name.ts';

const CLIENT = '2001:db8:25::1';
const RELAY_CLIENT = '2001:db8:aa::7';

/** A recording SMTP server on ::1, standing in for the smarthost and for an MX host reachable over IPv6 only. */
async function v6Sink(): Promise<{ port: number; messages: Array<{ to: string[]; raw: string }>; stop(): Promise<void> }> {
  const messages: Array<{ to: string[]; raw: string }> = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, disableReverseLookup: true,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => { messages.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('latin1') }); cb(); });
    },
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '::1', () => resolve()); });
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, messages, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('CidrList with IPv6 entries', () => {
  it('keeps the families apart: ::/0 is every IPv6 client, not every IPv4 client too', () => {
    const all6 = new CidrList(['::/0']);
    assert.equal(all6.has('2001:db8::1'), true);
    assert.equal(all6.has('192.0.2.1'), false);
    assert.equal(all6.has('::ffff:192.0.2.1'), false, 'an IPv4 client of a dual-stack listener is an IPv4 client');
    assert.equal(new CidrList(['0.0.0.0/0']).has('2001:db8::1'), false);
  });

  it('reads an IPv4-mapped network as the IPv4 network it covers', () => {
    const mapped = new CidrList(['::ffff:192.0.2.0/120']);
    assert.equal(mapped.has('192.0.2.77'), true);
    assert.equal(mapped.has('::ffff:192.0.2.77'), true);
    assert.equal(mapped.has('192.0.3.1'), false);
    assert.equal(new CidrList(['::ffff:0:0/96']).has('198.51.100.1'), true);
    assert.throws(() => new CidrList(['::ffff:192.0.2.0/64']), /at least 96/);
  });

  it('matches IPv6 networks in any spelling, and a link-local client with its zone index', () => {
    const l = new CidrList(['2001:DB8:AA::/48', 'fe80::/10']);
    assert.equal(l.has('2001:db8:aa:0:0:0:0:7'), true);
    assert.equal(l.has('2001:0db8:00aa::7'), true);
    assert.equal(l.has('2001:db8:ab::7'), false);
    assert.equal(l.has('fe80::1%eth0'), true);
  });

  it('gives checks a client address without the zone index of a link-local socket address', () => {
    assert.equal(normalizeIp('fe80::1%eth0'), 'fe80::1');
    assert.equal(normalizeIp('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(reversedIp(normalizeIp('fe80::1%eth0')), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f');
  });
});

describe('IPv6 end to end', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let sink: Awaited<ReturnType<typeof v6Sink>>;
  let gw: TestGateway;
  let proxied: TestGateway;
  let v6Port: number;
  let dualPort: number;

  before(async () => {
    sink = await v6Sink();
    dns = await startDnsServer({
      host: '::1',
      zones: {
        'bl.test': {
          [reversedIp(CLIENT)!]: { A: '127.0.0.2' },
          '1.0.0.127': { A: '127.0.0.3' },
        },
        'sender.test': { '@': { TXT: 'v=spf1 ip6:2001:db8:25::/48 -all' } },
        'good.test': { mail: { AAAA: CLIENT } },
        '8.b.d.0.1.0.0.2.ip6.arpa': { [reversedIp(CLIENT)!.replace(/\.8\.b\.d\.0\.1\.0\.0\.2$/, '')]: { PTR: 'mail.good.test' } },
        'v6only.test': { '@': { MX: [{ priority: 10, exchange: 'mx.v6only.test' }] }, mx: { AAAA: '::1' } },
      },
    });
    const common = {
      dns: { servers: [dns.address], timeout: '1s', tries: 1 },
      smarthost: `smtp://[::1]:${sink.port}`,
      queue: { retry_schedule: ['1s'], lifetime: '1h' },
    };
    gw = await startGateway({
      config: {
        ...common,
        server: { listen: ['[::1]:0', '[::]:0'], trusted_proxies: ['::1/128'] },
        relay: { networks: ['2001:db8:aa::/48'] },
        access: { deny_ips: ['2001:db8:dead::/48'] },
        limits: { max_errors: 2, error_block: '1m' },
        routes: { 'v6only.test': { via: 'mx', port: sink.port } },
        plugins: [
          { name: 'rbl', zones: [{ zone: 'bl.test', action: 'score', score: 1, codes: { '127.0.0.3': { symbol: 'RBL_V4_FORM' } } }] },
          { name: 'ptr', mode: 'score', fcrdns: true, on_error: 'skip' },
          { name: 'spf', check_helo: false },
        ],
      },
    });
    [v6Port, dualPort] = gw.gateway.listeners.map((l) => l.port);
    proxied = await startGateway({
      config: {
        ...common,
        server: { listen: ['[::]:0'], trusted_proxies: ['::1/128'], proxy_protocol: true },
        access: { deny_ips: ['::/0'] },
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await proxied?.stop();
    await dns?.stop();
    await sink?.stop();
  });

  /** One message from `addr` (named by XCLIENT through the ::1 proxy); returns the replies. */
  async function send(addr: string, opts: { to?: string; from?: string; subject: string }) {
    const d = await SmtpDialog.connect(v6Port, '::1');
    try {
      const hello = await d.hello({ helo: 'mail.good.test', xclient: { addr: `IPV6:${addr}` } });
      if (hello.code !== 250) return { hello };
      const mail = await d.cmd(`MAIL FROM:<${opts.from ?? 'alice@sender.test'}>`);
      const rcpt = await d.cmd(`RCPT TO:<${opts.to ?? 'user@example.com'}>`);
      const data = rcpt.code === 250 ? await d.data(testMessage({ subject: opts.subject, to: opts.to })) : undefined;
      return { hello, mail, rcpt, data };
    } finally {
      await d.quit();
    }
  }

  it('XCLIENT ADDR=IPV6: the client is checked by nibbles, SPF ip6:, ip6.arpa FCrDNS, and relayed to smtp://[::1]', async () => {
    const r = await send(CLIENT, { subject: 'v6-xclient' });
    assert.equal(r.data?.code, 250, JSON.stringify(r));
    const line = await waitFor('the summary line', () => gw.logs.find((l) => l.msg === 'message' && l.client === CLIENT));
    assert.ok((line.symbols as string[]).includes('RBL_BL(1)'), String(line.symbols));
    assert.ok((line.symbols as string[]).some((s) => s.startsWith('SPF_PASS')), String(line.symbols));
    assert.ok(!(line.symbols as string[]).some((s) => s.startsWith('PTR_')), `forward-confirmed: ${line.symbols}`);
    const relayed = await waitFor('the relayed copy', () => sink.messages.find((m) => m.raw.includes('v6-xclient')));
    assert.match(relayed.raw, /^Received-SPF: pass .*client-ip=2001:db8:25::1;/m);
    assert.match(relayed.raw, /^Received: from .*\n?.*\[IPv6:2001:db8:25::1\]\)/m, 'an IPv6 address literal as RFC 5321 writes it');
  });

  it('relay.networks and access.deny_ips take IPv6 CIDRs', async () => {
    const outsider = await send('2001:db8:bb::7', { to: 'someone@elsewhere.test', subject: 'v6-outsider' });
    assert.equal(outsider.rcpt?.code, 554);
    const relayed = await send(RELAY_CLIENT, { to: 'someone@elsewhere.test', subject: 'v6-relay' });
    assert.equal(relayed.data?.code, 250, JSON.stringify(relayed));
    const denied = await send('2001:db8:dead::9', { subject: 'v6-denied' });
    assert.equal(denied.hello.code, 554, JSON.stringify(denied));
    assert.match(denied.hello.text, /not allowed/);
  });

  it('delivers through an mx route to a host that has only an AAAA record', async () => {
    const r = await send(RELAY_CLIENT, { to: 'user@v6only.test', subject: 'v6-mx-route' });
    assert.equal(r.data?.code, 250, JSON.stringify(r));
    const got = await waitFor('the MX delivery', () => sink.messages.find((m) => m.raw.includes('v6-mx-route')));
    assert.deepEqual(got.to, ['user@v6only.test']);
  });

  it('an IPv4 client of the [::] listener is checked in its plain IPv4 form', async () => {
    const d = await SmtpDialog.connect(dualPort, '127.0.0.1');
    try {
      assert.equal((await d.hello({ helo: 'v4.client.test' })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<bob@v4.client.test>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await d.data(testMessage({ subject: 'v4-dual-stack' }))).code, 250);
    } finally {
      await d.quit();
    }
    const line = await waitFor('the summary line', () => gw.logs.find((l) => l.msg === 'message' && l.helo === 'v4.client.test'));
    assert.equal(line.client, '127.0.0.1');
    assert.ok((line.symbols as string[]).includes('RBL_V4_FORM(1)'), `looked up as 1.0.0.127.bl.test: ${line.symbols}`);
  });

  it('limits.error_block holds a client named by XCLIENT, and the rest of its /64 (limits.ipv6_prefix)', async () => {
    const blocked = '2001:db8:5::1';
    const d = await SmtpDialog.connect(v6Port, '::1');
    assert.equal((await d.hello({ xclient: { addr: `IPV6:${blocked}` } })).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@sender.test>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<x@elsewhere.test>')).code, 554);
    assert.equal((await d.cmd('RCPT TO:<y@elsewhere.test>')).code, 554);
    assert.equal((await d.cmd('RCPT TO:<z@elsewhere.test>')).code, 421);
    await d.quit();
    const again = await SmtpDialog.connect(v6Port, '::1');
    const r = await again.hello({ xclient: { addr: `IPV6:${blocked}` } });
    assert.equal(r.code, 421, `the blocked client came back through the proxy: ${r.code} ${r.text}`);
    assert.match(r.text, /Too many errors/);
    await again.quit();
    // Another address of the same /64 is the same sender: it may take any of them. One of the next /64 is not.
    const neighbour = await SmtpDialog.connect(v6Port, '::1');
    const n = await neighbour.hello({ xclient: { addr: 'IPV6:2001:db8:5::2' } });
    assert.equal(n.code, 421, `${n.code} ${n.text}`);
    await neighbour.quit();
    // One line for the /64 (the bounded refusal log): at its first refusal, that of ::1; the neighbour's is counted.
    const refused = await waitFor('the refusal', () => gw.logs.find((l) => l.msg === 'client refused: blocked after too many errors' && l.network === '2001:db8:5::/64'));
    assert.equal(refused.client, blocked);
    const outside = await SmtpDialog.connect(v6Port, '::1');
    assert.equal((await outside.hello({ xclient: { addr: 'IPV6:2001:db8:5:1::2' } })).code, 250);
    await outside.quit();
  });

  it('PROXY TCP6 names the client; deny_ips ::/0 refuses IPv6 clients and not the IPv4 ones of a dual-stack listener', async () => {
    const port = proxied.gateway.listeners[0].port;
    const p = await SmtpDialog.connect(port, '::1');
    p.write(`PROXY TCP6 ${CLIENT} ::1 40000 25\r\n`);
    const greeting = await p.read();
    assert.equal(greeting.code, 554, `${greeting.code} ${greeting.text}`);
    await p.quit();
    const refused = await waitFor('the refusal', () => proxied.logs.find((l) => l.msg === 'client refused by access.deny_ips'));
    assert.equal(refused.client, CLIENT);
    const v4 = await SmtpDialog.connect(port, '127.0.0.1');
    try {
      assert.equal((await v4.hello({ helo: 'v4.client.test' })).code, 250);
      assert.equal((await v4.cmd('MAIL FROM:<bob@v4.client.test>')).code, 250);
    } finally {
      await v4.quit();
    }
  });
});

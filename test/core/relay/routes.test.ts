// Per-domain routes end to end: own smarthosts, MX delivery over the loopback DNS server, size caps, connection caps, TLS and AUTH.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost, type ReceivedMessage } from '../../helpers/smarthost.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { loadTls } from '../../../core/smtp/tls.ts';
import { RouteTable } from '../../../core/relay/routes.ts';
import { sendMail, sleep, until } from '../queue/send.ts';

const isDsn = (m: ReceivedMessage) => m.mailFrom === '' && /report-type=delivery-status/.test(m.raw.toString());

describe('relay: route table', () => {
  it('an exact domain wins over a .parent entry, the nearest parent over farther ones, then *, then the default', () => {
    const t = new RouteTable({
      'example.org': 'smtp://10.0.0.1:25', '.example.org': 'mx', '.deep.example.org': { via: 'default', port: 25, starttls: 'off', timeout: 1000 } as never, '*': 'mx',
    });
    assert.equal(t.lookup('example.org').via, 'smarthost');
    assert.equal(t.lookup('EXAMPLE.ORG.').url, 'smtp://10.0.0.1:25');
    assert.equal(t.lookup('a.example.org').key, '.example.org');
    assert.equal(t.lookup('x.deep.example.org').key, '.deep.example.org');
    assert.equal(t.lookup('other.net').key, '*');
    assert.equal(new RouteTable({}).lookup('x.y').via, 'default');
  });
});

describe('relay: routes end to end', function () {
  this.timeout(30_000);
  let main: Smarthost;
  let other: Smarthost;
  let dns: DnsTestServer;
  let gw: TestGateway | undefined;

  before(async () => {
    dns = await startDnsServer({
      zones: {
        'mx.test': {
          '@': { MX: [{ priority: 10, exchange: 'mx1.mx.test' }, { priority: 20, exchange: 'mx2.mx.test' }] },
          mx1: { A: ['127.0.0.3'] }, // nothing listens there: the next MX must be tried
          mx2: { A: ['127.0.0.1'] },
        },
        'implicit.test': { '@': { A: ['127.0.0.1'] } },
        'nullmx.test': { '@': { MX: [{ priority: 0, exchange: '.' }] } },
        'gone.test': { '@': { A: ['127.0.0.1'] } },
      },
    });
  });
  after(async () => { await dns.stop(); });
  beforeEach(async () => { main = await startSmarthost(); other = await startSmarthost(); });
  afterEach(async () => { await gw?.stop(); gw = undefined; await main.stop(); await other.stop(); });

  const start = (config: Record<string, unknown>) => startGateway({
    config: {
      domains: ['example.com', 'example.net', 'mx.test', 'implicit.test', 'nullmx.test', 'nx.gone.test'],
      smarthost: `smtp://127.0.0.1:${main.port}`, dns: { servers: [dns.address], timeout: '1s' }, queue: { retry_schedule: ['300ms'] }, ...config,
    },
  }).then((g) => { gw = g; return g; });

  it('a domain with its own smarthost goes there; the rest to the default, from one message', async () => {
    const g = await start({ routes: { 'example.net': `smtp://127.0.0.1:${other.port}` } });
    assert.equal((await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com', 'v@example.net'] })).code, 250);
    const [m1] = await main.waitFor(1);
    const [m2] = await other.waitFor(1);
    assert.deepEqual(m1.rcptTo, ['u@example.com']);
    assert.deepEqual(m2.rcptTo, ['v@example.net']);
  });

  it('mx: MX hosts in preference order (past one that refuses), implicit MX; null MX and a missing domain bounce', async () => {
    const mx = { via: 'mx', port: other.port };
    const g = await start({ routes: { 'mx.test': mx, 'implicit.test': mx, 'nullmx.test': mx, 'nx.gone.test': mx } });
    assert.equal((await sendMail(g.port, { from: 'a@client.example', to: ['u@mx.test'] })).code, 250);
    assert.equal((await sendMail(g.port, { from: 'a@client.example', to: ['u@implicit.test'] })).code, 250);
    const got = await other.waitFor(2);
    assert.deepEqual(got.map((m) => m.rcptTo[0]).sort(), ['u@implicit.test', 'u@mx.test']);
    // The delivery line names the MX host that took it, as Postfix's relay=, not the one that did not answer.
    await until(() => g.logs.filter((l) => l.msg === 'delivered').length === 2, 5000, 'the delivered lines');
    assert.deepEqual(g.logs.filter((l) => l.msg === 'delivered').map((l) => [String(l.to), l.relay]).sort(), [
      ['u@implicit.test', `implicit.test[127.0.0.1]:${other.port}`], ['u@mx.test', `mx2.mx.test[127.0.0.1]:${other.port}`],
    ]);

    assert.equal((await sendMail(g.port, { from: 'b@client.example', to: ['u@nullmx.test', 'u@nx.gone.test'] })).code, 250);
    const [dsn] = await main.waitFor(1);
    assert.ok(isDsn(dsn));
    const text = dsn.raw.toString();
    assert.match(text, /^Status: 5\.1\.10$/m);
    assert.match(text, /^Diagnostic-Code: smtp; 556 5\.1\.10 nullmx\.test does not accept mail \(null MX\)/m);
    assert.match(text, /^Final-Recipient: rfc822; u@nx\.gone\.test\r?\nAction: failed\r?\nStatus: 5\.1\.2$/m);
  });

  it('the outbound size cap bounces larger messages; a route can set its own', async () => {
    const g = await start({ queue: { retry_schedule: ['300ms'], max_outbound_size: '4KB' }, routes: { 'example.net': { via: 'default', max_message_size: '64KB' } } });
    const body = ('y'.repeat(70) + '\r\n').repeat(100); // ~7 KB
    assert.equal((await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com', 'v@example.net'], body })).code, 250);
    const msgs = await main.waitFor(2);
    const dsn = msgs.find(isDsn)!;
    assert.match(dsn.raw.toString(), /^Final-Recipient: rfc822; u@example\.com\r?\nAction: failed\r?\nStatus: 5\.3\.4$/m);
    assert.deepEqual(msgs.find((m) => !isDsn(m))!.rcptTo, ['v@example.net']);
  });

  it('caps concurrent connections per destination', async () => {
    let now = 0, peak = 0, received = 0;
    const slow = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, disableReverseLookup: true,
      onConnect(_s, cb) { now++; peak = Math.max(peak, now); cb(); },
      onClose() { now--; },
      onData(stream, _s, cb) { stream.resume(); stream.on('end', () => setTimeout(() => { received++; cb(); }, 150)); },
    });
    slow.on('error', () => undefined);
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const port = (slow.server.address() as { port: number }).port;
    try {
      const g = await start({ routes: { 'example.net': { via: `smtp://127.0.0.1:${port}`, connections: 2 } } });
      await Promise.all(Array.from({ length: 10 }, (_, i) => sendMail(g.port, { from: 'a@client.example', to: [`u${i}@example.net`] })));
      await until(() => received === 10, 15_000, 'ten deliveries');
      assert.ok(peak <= 2 && peak >= 1, `peak of ${peak} connections`);
    } finally {
      // The gateway's pooled connections must go first, or the server waits for them to close.
      await gw?.stop(); gw = undefined;
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });

  it('TLS and AUTH per route: required STARTTLS with credentials delivers; wrong credentials or no TLS defer', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-tls-'));
    const tls = loadTls({ dataDir: dir, hostname: 'localhost' });
    const secure = await startSmarthost({ tls: { key: tls.key, cert: tls.cert }, auth: { user: 'relay', pass: 's3cret' } });
    try {
      const g = await start({
        routes: {
          'example.net': { via: `smtp://127.0.0.1:${secure.port}`, starttls: 'required', tls_verify: false, user: 'relay', pass: 's3cret' },
          'example.com': { via: `smtp://wrong:creds@127.0.0.1:${secure.port}`, starttls: 'required', tls_verify: false },
          'mx.test': { via: `smtp://127.0.0.1:${other.port}`, starttls: 'required' },
        },
      });
      assert.equal((await sendMail(g.port, { from: 'a@client.example', to: ['v@example.net'] })).code, 250);
      const s2 = await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com'] });
      const s3 = await sendMail(g.port, { from: 'a@client.example', to: ['w@mx.test'] });
      const [m] = await secure.waitFor(1);
      assert.deepEqual(m.rcptTo, ['v@example.net']);
      await until(() => g.logs.filter((l) => l.msg === 'deferred' && (l.qid === s2.queueId || l.qid === s3.queueId)).length >= 2, 10_000, 'two deferrals');
      const e2 = await g.gateway.runtime.queue.load(s2.queueId!);
      const e3 = await g.gateway.runtime.queue.load(s3.queueId!);
      assert.match(e2!.lastReply!, /535|auth/i);
      // The sink offers no STARTTLS: it refuses the command, and the message waits rather than go out in clear.
      assert.match(e3!.lastReply!, /TLS|command not recognized/i);
      assert.equal(e3!.recipients[0].status, 'pending');
      await sleep(200);
      assert.equal(other.messages.length, 0, 'nothing went out in clear text');
    } finally {
      await gw?.stop(); gw = undefined;
      await secure.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A destination's hosts are tried in turn within one attempt, as Postfix does: past a host that cannot be reached, and
// past one that answers 4xx to MAIL FROM or RCPT TO, for MX hosts and for a list of smarthosts (`smarthost: [url,
// url]`, a route's list). A 5xx stays final. Real sinks: smtp-server next hops that refuse as told, a port nothing
// listens on, MX records from a loopback DNS server.
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { ConfigError, validateConfig } from '../../../core/config/load.ts';
import { moatQueue } from '../queue/moat-queue.ts';
import { sendMail } from '../queue/send.ts';

interface Hop { port: number; mails: number; messages: string[][]; stop(): Promise<void> }

/** A next hop on `host`: `mail` refuses every MAIL FROM with that reply, `rcpt` refuses the recipients it names. */
async function startHop(host: string, opts: { port?: number; mail?: [number, string]; rcpt?: Record<string, [number, string]> } = {}): Promise<Hop> {
  const refusal = ([code, text]: [number, string]) => Object.assign(new Error(text), { responseCode: code });
  const hop: Hop = { port: 0, mails: 0, messages: [], stop: async () => {} };
  const server = new SMTPServer({
    logger: false, disableReverseLookup: true, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'],
    onMailFrom(_a, _s, cb) { hop.mails++; if (opts.mail) cb(refusal(opts.mail)); else cb(); },
    onRcptTo(a, _s, cb) { const r = opts.rcpt?.[a.address]; if (r) cb(refusal(r)); else cb(); },
    onData(stream, session, cb) {
      stream.resume();
      stream.on('end', () => { hop.messages.push(session.envelope.rcptTo.map((r) => r.address)); cb(); });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(opts.port ?? 0, host, () => r()));
  hop.port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  hop.stop = () => new Promise<void>((r) => server.close(() => r()));
  return hop;
}

describe('relay: failover to the next host within an attempt', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let gw: TestGateway | undefined;
  const hops: Hop[] = [];
  const hopOn = async (host: string, opts: Parameters<typeof startHop>[1] = {}) => { const h = await startHop(host, opts); hops.push(h); return h; };

  before(async () => {
    dns = await startDnsServer({
      zones: {
        'mx.test': {
          '@': { MX: [{ priority: 10, exchange: 'mx1.mx.test' }, { priority: 20, exchange: 'mx2.mx.test' }] },
          mx1: { A: ['127.0.0.2'] },
          mx2: { A: ['127.0.0.1'] },
        },
        'deadmx.test': {
          '@': { MX: [{ priority: 10, exchange: 'mx1.deadmx.test' }, { priority: 20, exchange: 'mx2.deadmx.test' }] },
          mx1: { A: ['127.0.0.2'] },
          mx2: { A: ['127.0.0.3'] }, // nothing listens there
        },
      },
    });
  });
  after(async () => { await dns.stop(); });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
    for (const h of hops.splice(0)) await h.stop();
  });

  const start = (config: Record<string, unknown>) => startGateway({
    config: {
      domains: ['example.com', 'example.net', 'mx.test', 'deadmx.test'],
      dns: { servers: [dns.address], timeout: '1s' }, queue: { retry_schedule: ['1h'] }, ...config,
    },
  }).then((g) => { gw = g; return g; });
  const linesOf = (g: TestGateway, qid: string | undefined, msg: string) => g.logs.filter((l) => l.qid === qid && l.msg === msg);

  it('MX: a 451 to MAIL FROM from the first MX host sends the message to the second in the same attempt', async () => {
    const second = await hopOn('127.0.0.1');
    const first = await hopOn('127.0.0.2', { port: second.port, mail: [451, '4.3.0 mx1 is busy'] });
    const notices = await hopOn('127.0.0.1');
    const g = await start({ smarthost: `smtp://127.0.0.1:${notices.port}`, routes: { 'mx.test': { via: 'mx', port: second.port } } });
    const sent = await sendMail(g.port, { from: 'a@client.example', to: ['u@mx.test', 'v@mx.test'] });
    await waitUntil('the delivery', () => linesOf(g, sent.queueId, 'delivered').length === 1);

    assert.deepEqual(second.messages, [['u@mx.test', 'v@mx.test']], 'the second MX host got it, once');
    assert.equal(first.mails, 1);
    assert.deepEqual(first.messages, []);
    const [line] = linesOf(g, sent.queueId, 'delivered');
    assert.equal(line.attempt, 1);
    assert.equal(line.relay, `mx2.mx.test[127.0.0.1]:${second.port}`);
    assert.equal(linesOf(g, sent.queueId, 'deferred').length, 0);
  });

  it('MX: when every host answers 4xx the last one\'s reply defers; a host that cannot be reached does not hide a server\'s reply', async () => {
    const second = await hopOn('127.0.0.1', { rcpt: { 'u@mx.test': [451, '4.2.0 mx2 mailbox busy'], 'v@mx.test': [452, '4.2.2 mx2 mailbox full'] } });
    const first = await hopOn('127.0.0.2', { port: second.port, mail: [451, '4.3.0 mx1 is busy'] });
    const g = await start({ routes: { 'mx.test': { via: 'mx', port: second.port }, 'deadmx.test': { via: 'mx', port: second.port } } });

    const both = await sendMail(g.port, { from: 'a@client.example', to: ['u@mx.test', 'v@mx.test'] });
    await waitUntil('the deferral', () => linesOf(g, both.queueId, 'deferred').length === 2);
    const replies = Object.fromEntries(linesOf(g, both.queueId, 'deferred').map((l) => [String(l.to), String(l.reply)]));
    assert.match(replies['u@mx.test'], /^451 4\.2\.0 mx2 mailbox busy/);
    assert.match(replies['v@mx.test'], /^452 4\.2\.2 mx2 mailbox full/);
    assert.equal(first.mails, 1);
    assert.deepEqual(second.messages, []);

    // deadmx.test: the first host answers 451 at MAIL, the second cannot be reached. The 451 is the reason, and the
    // destination, which answered, is not held as down.
    const other = await sendMail(g.port, { from: 'a@client.example', to: ['w@deadmx.test'] });
    await waitUntil('the second deferral', () => linesOf(g, other.queueId, 'deferred').length === 1);
    const [deferred] = linesOf(g, other.queueId, 'deferred');
    assert.match(String(deferred.reply), /^451 4\.3\.0 mx1 is busy/);
    assert.equal(first.mails, 2);
    assert.equal(g.logs.filter((l) => String(l.msg).startsWith('destination unreachable')).length, 0);

    const list = await moatQueue(g.dataDir, 'list');
    assert.match(list.stdout, /last: 451 4\.2\.0 mx2 mailbox busy/);
    assert.match(list.stdout, /last: 451 4\.3\.0 mx1 is busy/);
  });

  it('smarthost: [url, url, url] goes past a dead one and a 451 to the next, and only once', async () => {
    const dead = await freePort();
    const busy = await hopOn('127.0.0.1', { mail: [451, '4.3.0 relay busy'] });
    const sink = await hopOn('127.0.0.1');
    const g = await start({ smarthost: [`smtp://127.0.0.1:${dead}`, `smtp://127.0.0.1:${busy.port}`, `smtp://127.0.0.1:${sink.port}`] });
    const sent = await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com'] });
    await waitUntil('the delivery', () => linesOf(g, sent.queueId, 'delivered').length === 1);
    assert.deepEqual(sink.messages, [['u@example.com']]);
    assert.equal(busy.mails, 1);
    assert.equal(linesOf(g, sent.queueId, 'delivered')[0].relay, `127.0.0.1[127.0.0.1]:${sink.port}`);
    assert.equal(g.logs.filter((l) => String(l.msg).startsWith('destination unreachable')).length, 0);
  });

  it('a smarthost list\'s 5xx is final: the next host is not asked, the sender gets the notice', async () => {
    const first = await hopOn('127.0.0.1', { rcpt: { 'gone@example.com': [550, '5.1.1 no such user'] } });
    const second = await hopOn('127.0.0.1');
    const g = await start({ smarthost: { url: [`smtp://127.0.0.1:${first.port}`, `smtp://127.0.0.1:${second.port}`], starttls: 'off' } });
    const sent = await sendMail(g.port, { from: 'a@client.example', to: ['gone@example.com'] });
    await waitUntil('the bounce', () => linesOf(g, sent.queueId, 'bounced').length === 1);
    // The notice to the sender goes the same way, and the first host takes it.
    await waitUntil('the notice delivered', () => first.messages.length === 1);
    assert.deepEqual(first.messages, [['a@client.example']]);
    assert.equal(second.mails, 0);
    assert.match(String(linesOf(g, sent.queueId, 'bounced')[0].reply), /^550 5\.1\.1 no such user/);
  });

  it('a route\'s list of smarthosts, short or with options, goes past one that cannot be reached', async () => {
    const dead = await freePort();
    const main = await hopOn('127.0.0.1');
    const own = await hopOn('127.0.0.1');
    const g = await start({
      smarthost: `smtp://127.0.0.1:${main.port}`,
      routes: { 'example.net': [`smtp://127.0.0.1:${dead}`, `smtp://127.0.0.1:${own.port}`], 'mx.test': { via: [`smtp://127.0.0.1:${dead}`, `smtp://127.0.0.1:${own.port}`], starttls: 'off' } },
    });
    const sent = await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com', 'v@example.net', 'w@mx.test'] });
    await waitUntil('the deliveries', () => linesOf(g, sent.queueId, 'delivered').flatMap((l) => l.to as string[]).length === 3);
    assert.deepEqual(main.messages, [['u@example.com']]);
    assert.deepEqual(own.messages.map((m) => m.join()).sort(), ['v@example.net', 'w@mx.test']);
  });

  it('the config takes a list where it takes a URL, and faults an empty list or a bad URL in one by its place', async () => {
    const base = { domains: ['example.com'] };
    const ok = await validateConfig({ ...base, smarthost: ['smtp://10.0.0.1:25', 'smtp://10.0.0.2'], routes: { 'a.test': ['smtp://10.0.0.3'] } });
    assert.deepEqual(ok.smarthost, ['smtp://10.0.0.1:25', 'smtp://10.0.0.2']);
    const issues = async (raw: Record<string, unknown>) => {
      try { await validateConfig({ ...base, ...raw }); } catch (e) { if (e instanceof ConfigError) return e.issues; throw e; }
      return [];
    };
    assert.deepEqual(await issues({ smarthost: [] }), [{ path: 'smarthost', message: 'is an empty list: name at least one smarthost' }]);
    assert.deepEqual((await issues({ routes: { 'a.test': ['smtp://10.0.0.3', 'ftp://x'] } })).map((i) => i.path), ['routes.a.test[1]']);
    // A single URL that cannot be read is still faulted as the key itself, not as a list's first item.
    assert.deepEqual((await issues({ smarthost: 'smtp://user:pa/ss@host' })).map((i) => i.path), ['smarthost']);
    // Credentials over a connection that is never encrypted are refused once, whichever URL of the list holds them.
    const creds = await issues({ smarthost: { url: ['smtp://10.0.0.1', 'smtp://u:p@10.0.0.2', 'smtp://v:q@10.0.0.3'], starttls: 'off' } });
    assert.deepEqual(creds.map((i) => i.path), ['smarthost.starttls']);
  });
});

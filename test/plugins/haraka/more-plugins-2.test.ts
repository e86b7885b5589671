// Still more real Haraka plugins from npm, unchanged, in the real gateway: uribl, clamd, dkim, known-senders and
// recipient-routes, against a loopback DNS server, the test clamd and a private Redis.
// Inbound clients come through XCLIENT from 127.0.0.1; outbound ones talk from 127.0.0.1 itself (relay.networks).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { startClamd, EICAR, MARKER, SIG_NAMES, type ClamdHandle } from '../../helpers/clamd.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { until } from '../../core/queue/send.ts';
import { makeKey, sign } from '../dmarc/mail-fixtures.ts';
import { ZONES, IP, message } from './setup.ts';

const key = makeKey();

const zones = {
  ...ZONES,
  'example.org': { ...ZONES['example.org'], 'sel._domainkey': { TXT: [key.dnsRecord] } },
  // A URI blocklist: names under the zone, as Spamhaus' DBL answers them.
  'dbl.test': { 'evil-shop.com': { A: ['127.0.1.2'] }, 'spam-sender.net': { A: ['127.0.1.2'] } },
};

/** A plain plugin, last in the list, that shows what known-senders concluded (its results are no finding). */
const SHOW_RESULTS = `
exports.hook_data_post = function (next, connection) {
  const r = connection.transaction.results.get('known-senders');
  if (r) connection.transaction.add_header('X-Test-Known-Senders', 'pass=' + (r.pass || []).join(',') + '; sender=' + r.sender);
  next();
};
`;

const CONFIG: Record<string, string> = {
  plugins: ['redis', 'uribl', 'dkim', 'clamd', 'recipient-routes', 'rcpt_to.in_host_list', 'known-senders', 'show_results'].join('\n'),
  'log.ini': '[main]\nlevel=WARN\n',
  // known-senders works on organizational domains, which need a real TLD (.test has none)
  host_list: 'example.test\nexample.net\n',
  'uribl.ini': '[main]\ntimeout=10\n[dbl.test]\nvalidate=^127\\.\nenvfrom=1\nbody=1\nno_ip_lookups=1\ncustom_msg={uri} is listed in {zone}\n',
  'dkim.ini': '[verify]\nenabled=true\n',
  'clamd.excludes': `${SIG_NAMES.marker.replace('.UNOFFICIAL', '*')}\n`,
  'rcpt_to.routes.ini': '[routes]\nvip@partner.example=smtp://127.0.0.1:2526\n',
  // Its own Redis database (its documented set-up): its hashes are keyed by domain, as recipient-routes' routes are,
  // and a GET of a hash fails recipient-routes' lookup.
  'known-senders.ini': '[redis]\ndb=3\n[ignored_ods]\ngmail.com\n',
};

describe('haraka shim with more npm plugins (uribl, clamd, dkim, known-senders, recipient-routes)', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let redis: RedisHandle;
  let clamd: ClamdHandle;
  let db: Redis;
  let db3: Redis;
  let gw: RelayingGateway;
  let release: () => void;

  before(async () => {
    [dns, redis, clamd] = await Promise.all([startDnsServer({ zones }), startRedis(), startClamd()]);
    db = new Redis(redis.port, '127.0.0.1');
    db3 = new Redis({ port: redis.port, host: '127.0.0.1', db: 3 });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-more2-'));
    release = holdUntilExit({ dir });
    mkdirSync(path.join(dir, 'config'));
    mkdirSync(path.join(dir, 'plugins'));
    writeFileSync(path.join(dir, 'plugins', 'show_results.js'), SHOW_RESULTS);
    const files = {
      ...CONFIG,
      'redis.ini': `[server]\nhost=127.0.0.1\nport=${redis.port}\n`,
      'clamd.ini': `[main]\nclamd_socket=127.0.0.1:${clamd.port}\ntimeout=10\n`,
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, 'config', name), text);
    gw = await startRelayingGateway({
      config: {
        domains: ['example.test', 'example.net'],
        relay: { networks: ['127.0.0.1/32'] },
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'haraka', dir, dns_servers: [dns.address], timeout: '20s' }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    db?.disconnect();
    db3?.disconnect();
    await Promise.all([dns?.stop(), redis?.stop(), clamd?.close()]);
    release?.();
  });

  async function client(ip: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port);
    const r = await d.hello({ helo: 'mail.example.org', xclient: { addr: ip, helo: 'mail.example.org' } });
    assert.equal(r.code, 250, r.text);
    return d;
  }

  /** Sends one message and returns the final reply and, when it was accepted, the relayed bytes. */
  async function send(d: SmtpDialog, from: string, to: string[], body: string | Buffer): Promise<{ code: number; text: string; raw?: string }> {
    const before = gw.sink.messages.length;
    assert.equal((await d.cmd(`MAIL FROM:<${from}>`)).code, 250);
    for (const r of to) {
      const reply = await d.cmd(`RCPT TO:<${r}>`);
      assert.equal(reply.code, 250, reply.text);
    }
    const r = await d.data(body);
    if (r.code !== 250) return r;
    const [m] = (await gw.sink.waitFor(before + 1)).slice(before);
    return { ...r, raw: m.raw.toString('latin1') };
  }

  it('uribl: a listed domain in a body link is refused at the end of data, and a listed sender domain at MAIL', async () => {
    const d = await client(IP.clean);
    const r = await send(d, 'alice@example.org', ['bob@example.test'], message({ body: 'Cheap watches at http://evil-shop.com/buy now' }));
    assert.equal(r.code, 550, r.text);
    assert.match(r.text, /evil-shop\.com is listed in dbl\.test/);
    const mail = await d.cmd('MAIL FROM:<sales@spam-sender.net>');
    assert.equal(mail.code, 550, mail.text);
    assert.match(mail.text, /spam-sender\.net is listed in dbl\.test/);
    const clean = await send(d, 'alice@example.org', ['bob@example.test'], message({ body: 'See https://www.example.org/menu' }));
    assert.equal(clean.code, 250, clean.text);
    await d.quit();
  });

  it('clamd: a virus is refused, an excluded signature passes tagged with X-Haraka-Virus, clean mail passes', async () => {
    const d = await client(IP.clean);
    const virus = await send(d, 'alice@example.org', ['bob@example.test'], message({ body: EICAR }));
    assert.equal(virus.code, 550, virus.text);
    assert.match(virus.text, /Message is infected with Mailmoat\.Test\.EICAR/);
    const tagged = await send(d, 'alice@example.org', ['bob@example.test'], message({ body: `note ${MARKER} here` }));
    assert.equal(tagged.code, 250, tagged.text);
    assert.match(tagged.raw!, new RegExp(`^X-Haraka-Virus: ${SIG_NAMES.marker.replace(/\./g, '\\.')}`, 'm'));
    const clean = await send(d, 'alice@example.org', ['bob@example.test'], message());
    assert.equal(clean.code, 250, clean.text);
    assert.doesNotMatch(clean.raw!, /X-Haraka-Virus/);
    await d.quit();
  });

  it('dkim: a good signature gives dkim=pass in Authentication-Results, a tampered body dkim=fail', async () => {
    const signed = await sign(Buffer.from(message({ body: 'Signed and sealed.' }), 'latin1'), 'example.org', 'sel', key);
    const d = await client(IP.clean);
    const good = await send(d, 'alice@example.org', ['bob@example.test'], signed);
    assert.equal(good.code, 250, good.text);
    assert.match(good.raw!, /^Authentication-Results: [^\r\n]*(\r\n\s[^\r\n]*)*dkim=pass header\.i=@example\.org header\.d=example\.org header\.s=sel/m);
    const tampered = Buffer.from(signed.toString('latin1').replace('Signed and sealed.', 'Signed and changed.'), 'latin1');
    const bad = await send(d, 'alice@example.org', ['bob@example.test'], tampered);
    assert.equal(bad.code, 250, bad.text);
    assert.match(bad.raw!, /dkim=fail \(body hash did not verify\) header\.i=@example\.org/);
    await d.quit();
  });

  it('recipient-routes: recipients routed in its file or in Redis are accepted, others refused', async () => {
    await db.set('redis-user@partner.example', 'smtp://127.0.0.1:2527');
    const d = await client(IP.clean);
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    const file = await d.cmd('RCPT TO:<vip@partner.example>');
    assert.equal(file.code, 250, file.text);
    const fromRedis = await d.cmd('RCPT TO:<redis-user@partner.example>');
    assert.equal(fromRedis.code, 250, fromRedis.text);
    const other = await d.cmd('RCPT TO:<nobody@partner.example>');
    assert.equal(Math.floor(other.code / 100), 5, other.text);
    await d.quit();
  });

  it('known-senders: mail a local user sends out is counted in Redis, and a DKIM-signed answer is recognised', async () => {
    // Outbound: the client is in relay.networks; queue_ok counts example.org for example.net.
    const out = await SmtpDialog.connect(gw.port);
    assert.equal((await out.hello({ helo: 'office.example.net' })).code, 250);
    const sent = await send(out, 'boss@example.net', ['partner@example.org'], message({ from: 'boss@example.net', to: 'partner@example.org' }));
    assert.equal(sent.code, 250, sent.text);
    await out.quit();
    await until(async () => (await db3.hget('example.net', 'example.org')) === '1', 5000, 'known-senders count in Redis');

    // Inbound: the answer from example.org, DKIM-signed by example.org, to the local domain that wrote to it.
    const reply = await sign(Buffer.from(message({ from: 'partner@example.org', to: 'boss@example.net', subject: 'Re: offer' }), 'latin1'), 'example.org', 'sel', key);
    const d = await client(IP.clean);
    const r = await send(d, 'partner@example.org', ['boss@example.net'], reply);
    assert.equal(r.code, 250, r.text);
    await d.quit();
    assert.match(r.raw!, /^X-Test-Known-Senders: pass=example\.net; sender=example\.org/m);
  });
});

// More real Haraka plugins from npm, unchanged, in the real gateway: relay, fcrdns, access, helo.checks, limit, bounce.
// Clients come through XCLIENT from 127.0.0.1 (a trusted proxy that may relay); helo tests talk from 127.0.0.1 itself.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { until } from '../../core/queue/send.ts';
import { ZONES, message } from './setup.ts';

/** Public-looking client addresses (Haraka plugins skip private ones), each with its own rDNS story. */
const IP = {
  clean: '93.184.216.1', // PTR mail.example.org, which resolves back: FCrDNS passes
  relay: '93.184.216.7', // in relay_acl_allow
  noPtr: '93.184.216.9', // no PTR at all
  blocked: '93.184.216.8', // PTR bad.example.net, in connect.rdns_access.blacklist
  crowd: '93.184.216.10', // for the concurrency limit
  busy: '93.184.216.11', // for the recipient limit
};

const zones = {
  ...ZONES,
  'example.org': { ...ZONES['example.org'], relay: { A: ['93.184.216.7'] } },
  'example.net': { '@': { MX: [{ priority: 10, exchange: 'mx.example.org' }] }, bad: { A: ['93.184.216.8'] } },
  'elsewhere.test': { '@': { MX: [{ priority: 10, exchange: 'mx.example.org' }] } },
  '216.184.93.in-addr.arpa': {
    ...ZONES['216.184.93.in-addr.arpa'],
    '7': { PTR: ['relay.example.org'] }, '8': { PTR: ['bad.example.net'] },
    '10': { PTR: ['mail.example.org'] }, '11': { PTR: ['mail.example.org'] },
  },
};

/**
 * A plain plugin reading `connection.esmtp` the way helo.checks' proto_mismatch does (which itself only runs on a
 * connection's first greeting): false until an EHLO was accepted, then true.
 */
const GREETING_PROTOCOL = `
exports.hook_ehlo = function (next, connection) {
  if (!connection.notes.greeted && connection.esmtp) return next(DENY, 'esmtp set before any EHLO was accepted');
  connection.notes.greeted = true;
  next();
};
exports.hook_helo = function (next, connection) {
  if (connection.esmtp) return next(DENY, 'HELO after EHLO');
  next();
};
`;

const CONFIG: Record<string, string> = {
  plugins: ['redis', 'relay', 'fcrdns', 'access', 'helo.checks', 'greeting_protocol', 'limit', 'bounce', 'rcpt_to.in_host_list'].join('\n'),
  'log.ini': '[main]\nlevel=WARN\n',
  host_list: 'example.test\n',
  'relay.ini': '[relay]\nacl=true\nforce_routing=false\n',
  relay_acl_allow: '93.184.216.7/32\n',
  'fcrdns.ini': '[main]\ntimeout=5\n[reject]\nno_rdns=true\n',
  'access.ini': '[check]\nany=true\nconn=true\nmail=true\nrcpt=true\n',
  'connect.rdns_access.blacklist': 'bad.example.net\n',
  'mail_from.access.blacklist': 'spammer@example.org\n',
  'rcpt_to.access.blacklist': 'closed@example.test\n',
  'access.domains': 'evil.org\n',
  'helo.checks.ini': '[skip]\nprivate_ip=false\nrelaying=false\n[reject]\nliteral_mismatch=true\n',
  'limit.ini': 'tarpit_delay=0\n[concurrency]\nenabled=true\nmax=2\n[recipients]\nenabled=true\nmax=3\n[unrecognized_commands]\nenabled=true\nmax=4\n',
  'bounce.ini': '[check]\nsingle_recipient=true\n[reject]\nsingle_recipient=true\nbad_rcpt=true\n',
  bounce_bad_rcpt: 'noreply@example.test\n',
};

describe('haraka shim with more npm plugins (relay, fcrdns, access, helo.checks, limit, bounce)', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let redis: RedisHandle;
  let gw: RelayingGateway;
  let release: () => void;

  before(async () => {
    [dns, redis] = await Promise.all([startDnsServer({ zones }), startRedis()]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-more-'));
    release = holdUntilExit({ dir });
    mkdirSync(path.join(dir, 'config'));
    mkdirSync(path.join(dir, 'plugins'));
    writeFileSync(path.join(dir, 'plugins', 'greeting_protocol.js'), GREETING_PROTOCOL);
    const files = { ...CONFIG, 'redis.ini': `[server]\nhost=127.0.0.1\nport=${redis.port}\n` };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, 'config', name), text);
    gw = await startRelayingGateway({
      config: {
        domains: ['example.test'],
        // the proxy may relay; the clients it names by XCLIENT may not, unless a plugin says so
        relay: { networks: ['127.0.0.1/32'] },
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'haraka', dir, dns_servers: [dns.address], timeout: '20s' }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([dns?.stop(), redis?.stop()]);
    release?.();
  });

  async function client(ip: string, helo = 'mail.example.org'): Promise<{ d: SmtpDialog; code: number; text: string }> {
    const d = await SmtpDialog.connect(gw.port);
    const r = await d.hello({ helo, xclient: { addr: ip, helo } });
    return { d, code: r.code, text: r.text };
  }

  it('relay: a client in relay_acl_allow may relay to any domain; others may not', async () => {
    const before = gw.sink.messages.length;
    const { d } = await client(IP.relay, 'relay.example.org');
    assert.equal((await d.cmd('MAIL FROM:<app@example.org>')).code, 250);
    const to = await d.cmd('RCPT TO:<someone@elsewhere.test>');
    assert.equal(to.code, 250, to.text);
    assert.equal((await d.data(message({ from: 'app@example.org', to: 'someone@elsewhere.test' }))).code, 250);
    await d.quit();
    const [m] = (await gw.sink.waitFor(before + 1)).slice(before);
    assert.deepEqual(m.rcptTo, ['someone@elsewhere.test']);

    const other = await client(IP.clean);
    assert.equal((await other.d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    const refused = await other.d.cmd('RCPT TO:<someone@elsewhere.test>');
    assert.equal(Math.floor(refused.code / 100), 5, refused.text);
    await other.d.quit();
  });
  it('fcrdns: a client without PTR is refused at connect; a confirmed one gets its headers', async () => {
    const refused = await client(IP.noPtr);
    assert.equal(refused.code, 554, refused.text);
    assert.match(refused.text, /rDNS|PTR|93\.184\.216\.9/);
    await refused.d.quit();

    const before = gw.sink.messages.length;
    const { d } = await client(IP.clean);
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    assert.equal((await d.data(message())).code, 250);
    await d.quit();
    const [m] = (await gw.sink.waitFor(before + 1)).slice(before);
    const raw = m.raw.toString();
    assert.match(raw, /^X-Haraka-FCrDNS: mail\.example\.org/m);
    assert.match(raw, /^Authentication-Results: .*iprev=pass/m);
  });

  it('access: rDNS blacklist drops at connect, sender and recipient blacklists refuse, access.domains refuses a HELO', async () => {
    const conn = await client(IP.blocked, 'bad.example.net');
    assert.equal(conn.code, 554, conn.text);
    assert.match(conn.text, /not allowed to connect/);
    await until(() => conn.d.closed, 2000, 'close after DENYDISCONNECT');

    const { d } = await client(IP.clean);
    const mail = await d.cmd('MAIL FROM:<spammer@example.org>');
    assert.equal(mail.code, 550, mail.text);
    assert.match(mail.text, /That sender cannot send mail here/);
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    const rcpt = await d.cmd('RCPT TO:<closed@example.test>');
    assert.equal(rcpt.code, 550, rcpt.text);
    assert.match(rcpt.text, /That recipient is not allowed/);
    await d.quit();

    const evil = await client(IP.clean, 'mx.evil.org');

    assert.equal(evil.code, 550, evil.text);
    assert.match(evil.text, /not welcome/);
    await evil.d.quit();
  });

  it('helo.checks: an address literal outside the client\'s /24 is refused (reject.literal_mismatch)', async () => {
    const d = await SmtpDialog.connect(gw.port);
    const r = await d.hello({ helo: '[10.1.2.3]' });
    assert.equal(r.code, 550, r.text);
    assert.match(r.text, /HELO IP literal not in the same \/24/);
    assert.equal((await d.cmd('EHLO [127.0.0.1]')).code, 250);
    await d.quit();
  });

  it('connection.esmtp is false during the first EHLO and true once it was accepted, so a later HELO sees it', async () => {
    const d = await SmtpDialog.connect(gw.port);
    const first = await d.hello({ helo: 'mail.example.org' });
    assert.equal(first.code, 250, first.text);
    const helo = await d.cmd('HELO mail.example.org');
    assert.equal(helo.code, 550, helo.text);
    assert.match(helo.text, /HELO after EHLO/);
    await d.quit();
  });

  it('limit: a fourth recipient is refused for now (recipients.max=3)', async () => {
    const { d } = await client(IP.busy);
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    for (const r of ['a', 'b', 'c']) assert.equal((await d.cmd(`RCPT TO:<${r}@example.test>`)).code, 250);
    const fourth = await d.cmd('RCPT TO:<d@example.test>');
    assert.equal(fourth.code, 450, fourth.text);
    assert.match(fourth.text, /Too many recipient attempts/);
    await d.quit();
  });

  // limit pushes Haraka's params [verb, rest] into its count, so each command counts twice, in Haraka too: max=4.
  it('limit: a third unrecognized command closes the connection with 421 (unrecognized_commands.max=4)', async () => {
    const { d } = await client(IP.clean);
    assert.equal((await d.cmd('XFOO')).code, 500);
    assert.equal((await d.cmd('XBAR')).code, 500);
    const third = await d.cmd('XBAZ');
    assert.equal(third.code, 421, third.text);
    assert.match(third.text, /Too many unrecognized commands/);
    await until(() => d.closed, 2000, 'close after DENYSOFTDISCONNECT');
  });

  it('limit: a third concurrent connection from one address is turned away at connect, counted in Redis', async () => {
    const first = await client(IP.crowd);
    const second = await client(IP.crowd);
    assert.equal(first.code, 250, first.text);
    assert.equal(second.code, 250, second.text);
    const third = await client(IP.crowd);
    assert.equal(third.code, 421, third.text);
    assert.match(third.text, /Too many concurrent connections/);
    await first.d.quit();
    await second.d.quit();
    await until(() => third.d.closed, 2000, 'close after DENYSOFTDISCONNECT');
  });

  it('bounce: a bounce to a listed address is refused, and one to two recipients is refused at DATA', async () => {
    const { d } = await client(IP.clean);
    assert.equal((await d.cmd('MAIL FROM:<>')).code, 250);
    const bad = await d.cmd('RCPT TO:<noreply@example.test>');
    assert.equal(bad.code, 550, bad.text);
    assert.match(bad.text, /does not accept bounces/);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<carol@example.test>')).code, 250);
    const data = await d.cmd('DATA');
    assert.equal(data.code, 554, data.text);
    assert.match(data.text, /too many recipients/);
    await d.quit();
  });
});

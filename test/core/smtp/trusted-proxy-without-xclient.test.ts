// A trusted proxy's greeting skips the connect checks, since XCLIENT normally names the client they should judge. A
// proxy that goes on without XCLIENT is the client itself: the checks then run for its own address at its first
// command past the opening (MAIL FROM here), once, with the replies a client refused at connect gets.
// This file is also the connect-hook plugin the gateway runs: it records whom it saw and refuses some addresses.
import assert from 'node:assert/strict';
import { definePlugin, outcome, s, type HookContext } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/** Every connect hook call: the client's address and the name the session said EHLO with (unique per test). */
const seen: Array<{ ip: string; helo?: string }> = [];

export default definePlugin({
  name: 'proxy-connect-fixture',
  description: 'Test double: records each connect hook call, refuses two loopback proxies',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async connect(ctx: HookContext) {
        seen.push({ ip: ctx.session.remote.ip, helo: ctx.session.helo });
        switch (ctx.session.remote.ip) {
          case '127.0.0.3': return outcome.reject('Not you', { code: 550, enhanced: '5.7.9' });
          case '127.0.0.4': return outcome.tempfail('Lookup failed, try later', { code: 451, enhanced: '4.4.3' });
        }
      },
    },
  }),
});

const DENIED = '5.7.1 Your address is not allowed to send mail here';

describe('a trusted proxy that never sends XCLIENT is checked as the client', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: {
        server: { trusted_proxies: ['127.0.0.0/8'] },
        access: { deny_ips: ['127.0.0.2/32'] },
        plugins: [{ name: 'proxy-connect-fixture', module: import.meta.filename }],
      },
    });
  });
  after(() => gw?.stop());

  /** A session from the loopback address `from`, greeted and past EHLO `helo`. */
  async function proxySession(from: string, helo: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: from });
    const r = await d.hello({ helo });
    assert.equal(r.code, 250, r.text);
    return d;
  }

  const linesFor = (msg: string, ip: string) => gw.logs.filter((l) => l.msg === msg && l.client === ip);
  const refusedCount = () => gw.gateway.runtime.metrics.counters.get('connections_refused') ?? 0;

  it('refuses MAIL FROM of a proxy in access.deny_ips with the connect refusal, and every later command', async () => {
    const before = refusedCount();
    const d = await proxySession('127.0.0.2', 'denied-proxy.test');
    // The opening commands come before the proxy had its chance to name a client: not judged yet.
    assert.equal((await d.cmd('NOOP')).code, 250);
    assert.equal((await d.cmd('RSET')).code, 250);
    const mail = await d.cmd('MAIL FROM:<a@client.example>');
    assert.equal(mail.code, 554, mail.text);
    assert.equal(mail.text, DENIED);
    const rcpt = await d.cmd('RCPT TO:<user@example.com>');
    assert.equal(rcpt.code, 554, rcpt.text);
    assert.equal(rcpt.text, DENIED);
    const again = await d.cmd('MAIL FROM:<b@client.example>');
    assert.equal(again.code, 554, again.text);
    assert.equal((await d.cmd('QUIT')).code, 221);
    assert.equal(linesFor('client refused by access.deny_ips', '127.0.0.2').length, 1);
    const connects = linesFor('connect', '127.0.0.2');
    assert.equal(connects.length, 1, 'one connect line for the session');
    assert.equal(connects[0].checked_at, 'MAIL');
    assert.equal(refusedCount() - before, 1, 'connections_refused counts the refusal once');
    assert.ok(!seen.some((x) => x.ip === '127.0.0.2'), 'the connect hooks do not run for a denied client, as at connect');
  });

  it('delivers through the same denied proxy when XCLIENT names a clean client, which alone is checked', async () => {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.2' });
    const r = await d.hello({ helo: 'naming-proxy.test', xclient: { addr: '192.0.2.50' } });
    assert.equal(r.code, 250, r.text);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const data = await d.data(testMessage({ subject: 'named-by-xclient' }));
    assert.equal(data.code, 250, data.text);
    await d.quit();
    await gw.sink.waitForText('named-by-xclient');
    assert.deepEqual(seen.filter((x) => x.helo === 'naming-proxy.test').map((x) => x.ip), ['192.0.2.50']);
    assert.equal(linesFor('connect', '192.0.2.50').length, 1);
    assert.equal(linesFor('client refused by access.deny_ips', '127.0.0.2').length, 1, 'only the earlier session\'s refusal');
  });

  it('runs the connect hooks once for a clean proxy that sends mail itself, however many transactions', async () => {
    const d = await proxySession('127.0.0.6', 'clean-proxy.test');
    for (const subject of ['own-mail-1', 'own-mail-2']) {
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      const data = await d.data(testMessage({ subject }));
      assert.equal(data.code, 250, data.text);
    }
    await d.quit();
    await gw.sink.waitForText('own-mail-2');
    assert.deepEqual(seen.filter((x) => x.helo === 'clean-proxy.test').map((x) => x.ip), ['127.0.0.6']);
    assert.equal(linesFor('connect', '127.0.0.6').length, 1);
  });

  it('gives a connect hook\'s reject to MAIL FROM as 554 with its text, and to every later command', async () => {
    const d = await proxySession('127.0.0.3', 'rejected-proxy.test');
    const mail = await d.cmd('MAIL FROM:<a@client.example>');
    assert.equal(mail.code, 554, mail.text);
    assert.equal(mail.text, '5.7.9 Not you');
    const ehlo = await d.cmd('EHLO rejected-proxy.test');
    assert.equal(ehlo.code, 554, ehlo.text);
    assert.equal(ehlo.text, '5.7.9 Not you');
    assert.equal((await d.cmd('QUIT')).code, 221);
    assert.deepEqual(seen.filter((x) => x.helo === 'rejected-proxy.test').map((x) => x.ip), ['127.0.0.3']);
  });

  it('refuses pipelined MAIL, RCPT and DATA of a rejected proxy one by one, and takes no message', async () => {
    const before = gw.sink.messages.length;
    const d = await proxySession('127.0.0.3', 'pipelining-proxy.test');
    d.write('MAIL FROM:<a@client.example>\r\nRCPT TO:<user@example.com>\r\nDATA\r\n');
    const replies = [await d.read(), await d.read(), await d.read()];
    assert.deepEqual(replies.map((r) => r.code), [554, 554, 554], replies.map((r) => r.text).join(' | '));
    assert.equal((await d.cmd('QUIT')).code, 221);
    assert.equal(gw.sink.messages.length, before);
    assert.equal(seen.filter((x) => x.helo === 'pipelining-proxy.test').length, 1);
  });

  it('gives a connect hook\'s tempfail to MAIL FROM as 421 with its enhanced code and text, then closes', async () => {
    const d = await proxySession('127.0.0.4', 'tempfailed-proxy.test');
    const mail = await d.cmd('MAIL FROM:<a@client.example>');
    assert.equal(mail.code, 421, mail.text);
    assert.equal(mail.text, '4.4.3 Lookup failed, try later');
    await waitFor('the gateway to close the connection after the 421', () => d.closed || undefined, 3000);
  });
});

describe('the rbl plugin judges a trusted proxy that never sends XCLIENT', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let gw: RelayingGateway;
  before(async () => {
    dns = await startDnsServer({ zones: { 'bl.test': { '7.0.0.127': { A: '127.0.0.2' } } } });
    gw = await startRelayingGateway({
      config: {
        server: { trusted_proxies: ['127.0.0.0/8'] },
        dns: { servers: [dns.address] },
        plugins: [{ name: 'rbl', skip_private: false, zones: [{ zone: 'bl.test', action: 'reject' }] }],
      },
    });
  });
  after(async () => { await gw?.stop(); await dns?.stop(); });

  const lookups = async (name: string) => (await dns.queries()).filter((q) => q.name === name && q.type === 'A').length;

  it('refuses MAIL FROM of a listed proxy with 554 and the listing, asked of DNS once', async () => {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.7' });
    assert.equal((await d.hello({ helo: 'listed-proxy.test' })).code, 250);
    const mail = await d.cmd('MAIL FROM:<a@client.example>');
    assert.equal(mail.code, 554, mail.text);
    assert.equal(mail.text, '5.7.1 Client 127.0.0.7 is listed at bl.test');
    assert.equal((await d.cmd('MAIL FROM:<b@client.example>')).code, 554);
    assert.equal((await d.cmd('QUIT')).code, 221);
    assert.equal(await lookups('7.0.0.127.bl.test'), 1);
  });

  it('relays the mail of a proxy the blocklist does not list', async () => {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.8' });
    assert.equal((await d.hello({ helo: 'unlisted-proxy.test' })).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const data = await d.data(testMessage({ subject: 'unlisted-proxy-mail' }));
    assert.equal(data.code, 250, data.text);
    await d.quit();
    await gw.sink.waitForText('unlisted-proxy-mail');
    assert.equal(await lookups('8.0.0.127.bl.test'), 1);
  });
});

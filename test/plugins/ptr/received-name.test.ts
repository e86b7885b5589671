// The ptr plugin's forward-confirmed name as the client's verified name, through a real gateway, a real DNS server on
// loopback and a real smarthost: in Received, on the summary line and in the session plugins read; `unknown` for a
// PTR that is only present, or does not resolve back.
// This file is also the plugin that reads the name: the gateway imports it by its own URL.
import assert from 'node:assert/strict';
import { definePlugin, s } from '../../../core/index.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { relayOne } from '../../core/received-transaction.ts';

/** Writes the verified name a plugin after ptr sees at DATA into the message. */
export default definePlugin({
  name: 'name-reader',
  description: 'Test double: shows the session\'s verified client name',
  configSchema: s.object({}),
  create: () => ({ hooks: { data: (ctx) => { ctx.addHeader('X-Test-Verified-Name', ctx.session.remote.verifiedName ?? 'none'); } } }),
});

const reader = { name: 'name-reader', module: import.meta.filename };

describe('plugins/ptr: the confirmed name in Received', function () {
  this.timeout(20_000);
  let dns: DnsTestServer;
  const gateways: RelayingGateway[] = [];
  before(async () => {
    dns = await startDnsServer({
      zones: {
        // 127.0.0.1 is the test client; 127.0.0.2 one XCLIENT names, whose PTR points at a name of another address.
        '0.0.127.in-addr.arpa': { '1': { PTR: 'mail.example.test' }, '2': { PTR: 'liar.example.test' } },
        'example.test': { mail: { A: '127.0.0.1' }, liar: { A: '192.0.2.99' } },
      },
    });
  });
  afterEach(async () => { for (const g of gateways.splice(0)) await g.stop(); });
  after(async () => { await dns?.stop(); });

  async function start(ptr: Record<string, unknown>): Promise<RelayingGateway> {
    const gw = await startRelayingGateway({ config: { dns: { servers: [dns.address], timeout: '500ms', tries: 1 }, plugins: [{ name: 'ptr', ...ptr }, reader] } });
    gateways.push(gw);
    return gw;
  }

  it('fcrdns: a confirmed name is in Received, on the summary line and in the session; another client XCLIENT names gets unknown', async () => {
    const gw = await start({ mode: 'score', fcrdns: true });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ helo: 'x' })).code, 250);
      const confirmed = await relayOne(gw, d, 'ptr-confirmed');
      assert.match(confirmed.raw, /^Received: from x \(mail\.example\.test \[127\.0\.0\.1\]\)\r\n/m);
      assert.equal(confirmed.summary.client_name, 'mail.example.test');
      assert.match(confirmed.raw, /^X-Test-Verified-Name: mail\.example\.test\r$/m);

      // The name was 127.0.0.1's: once the proxy names another client, it is not that client's.
      assert.equal((await d.cmd('XCLIENT ADDR=127.0.0.2 NAME=[UNAVAILABLE]')).code, 220);
      assert.equal((await d.cmd('EHLO y')).code, 250);
      const other = await relayOne(gw, d, 'ptr-not-confirmed');
      assert.match(other.raw, /^Received: from y \(unknown \[127\.0\.0\.2\]\)\r\n/m);
      assert.equal(other.summary.client_name, undefined);
      assert.match(other.raw, /^X-Test-Verified-Name: none\r$/m);
      assert.ok((other.summary.symbols as string[]).some((sym) => sym.startsWith('PTR_NOT_CONFIRMED')), String(other.summary.symbols));
    } finally {
      await d.quit();
    }
  });

  it('without fcrdns a PTR is only present, not verified: Received says unknown', async () => {
    const gw = await start({ mode: 'score', fcrdns: false });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ helo: 'x' })).code, 250);
      const present = await relayOne(gw, d, 'ptr-present');
      assert.match(present.raw, /^Received: from x \(unknown \[127\.0\.0\.1\]\)\r\n/m);
      assert.equal(present.summary.client_name, undefined);
      assert.match(present.raw, /^X-Test-Verified-Name: none\r$/m);
      assert.deepEqual(present.summary.symbols, []);
    } finally {
      await d.quit();
    }
  });
});

// What a client refused by the connect checks hears: RFC 5321 §3.1 and §4.2 allow only 220, 554 and 421 as a greeting.
// A temporary refusal is 421 and the connection ends (a 451 greeting followed by silence left clients hanging); a
// permanent one is 554 and every later command gets 554 until QUIT. This file is also the plugin that refuses.
import assert from 'node:assert/strict';
import { definePlugin, outcome, s, type HookContext } from '../../../core/index.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/** Refuses the addresses a proxy names with XCLIENT in the way their last number says. */
export default definePlugin({
  name: 'connect-refusal-fixture',
  description: 'Test double: refuses a client at connect with the outcome its address asks for',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async connect(ctx: HookContext) {
        switch (ctx.session.remote.ip) {
          case '192.0.2.1': return outcome.tempfail('Lookup failed, try later', { code: 451, enhanced: '4.4.3' });
          case '192.0.2.2': return outcome.disconnect('Not now', { code: 450, enhanced: '4.7.1' });
          case '192.0.2.3': return outcome.reject('Not you', { code: 550, enhanced: '5.7.9' });
          case '192.0.2.4': return outcome.disconnect('Go away', { code: 550, enhanced: '5.7.1' });
        }
      },
    },
  }),
});

/** Waits until the gateway closed the connection (the dialog sees the close). */
function closedSoon(d: SmtpDialog, ms = 3000): Promise<boolean> {
  return waitFor('the gateway to close the connection', () => d.closed || undefined, ms);
}

describe('the greeting of a client the connect checks refuse', () => {
  describe('a blocklist that does not answer (on_error: tempfail), client connecting directly', () => {
    let dns: DnsTestServer;
    let gw: TestGateway;
    before(async () => {
      dns = await startDnsServer({ zones: { 'dead.test': {} }, behaviours: { 'dead.test': { drop: true } } });
      gw = await startGateway({
        config: {
          server: { trusted_proxies: [] },
          dns: { servers: [dns.address], timeout: '200ms', tries: 1 },
          plugins: [{ name: 'rbl', zones: [{ zone: 'dead.test', action: 'reject', on_error: 'tempfail' }] }],
        },
      });
    });
    after(async () => { await gw?.stop(); await dns?.stop(); });

    it('is 421 with the plugin\'s enhanced code and text, and the connection is closed', async () => {
      const d = await SmtpDialog.connect(gw.port);
      const greeting = await d.read();
      assert.equal(greeting.code, 421, greeting.text);
      assert.match(greeting.text, /^4\.4\.3 /);
      assert.ok(await closedSoon(d), 'the connection was left open after the 421');
    });
  });

  describe('behind a trusted proxy (the reply to XCLIENT is the client\'s greeting)', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway({ config: { plugins: [{ name: 'connect-refusal-fixture', module: import.meta.filename }] } });
    });
    after(() => gw?.stop());

    async function xclient(addr: string): Promise<{ d: SmtpDialog; code: number; text: string }> {
      const d = await SmtpDialog.connect(gw.port);
      assert.equal((await d.read()).code, 220);
      assert.equal((await d.cmd('EHLO proxy.test')).code, 250);
      const r = await d.cmd(`XCLIENT ADDR=${addr} NAME=[UNAVAILABLE]`);
      return { d, code: r.code, text: r.text };
    }

    it('a tempfail is 421 with its enhanced code and text, then the close', async () => {
      const r = await xclient('192.0.2.1');
      assert.equal(r.code, 421, r.text);
      assert.equal(r.text, '4.4.3 Lookup failed, try later');
      assert.ok(await closedSoon(r.d));
    });

    it('a temporary disconnect is 421 too, then the close', async () => {
      const r = await xclient('192.0.2.2');
      assert.equal(r.code, 421, r.text);
      assert.equal(r.text, '4.7.1 Not now');
      assert.ok(await closedSoon(r.d));
    });

    it('a reject is 554 with its enhanced code and text, repeated for later commands until QUIT', async () => {
      const r = await xclient('192.0.2.3');
      assert.equal(r.code, 554, r.text);
      assert.equal(r.text, '5.7.9 Not you');
      const ehlo = await r.d.cmd('EHLO client.test');
      assert.equal(ehlo.code, 554, ehlo.text);
      assert.equal(ehlo.text, '5.7.9 Not you');
      const quit = await r.d.cmd('QUIT');
      assert.equal(quit.code, 221, quit.text);
    });

    it('a permanent disconnect is 554, then the close', async () => {
      const r = await xclient('192.0.2.4');
      assert.equal(r.code, 554, r.text);
      assert.equal(r.text, '5.7.1 Go away');
      assert.ok(await closedSoon(r.d));
    });

    it('a client the plugin lets through is greeted with 220', async () => {
      const r = await xclient('192.0.2.5');
      assert.equal(r.code, 220, r.text);
      await r.d.quit();
    });
  });
});

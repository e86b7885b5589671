// Routes of internationalized domains: `bücher.example` and `xn--bcher-kva.example` are one domain, whichever form
// the route is keyed by and whichever form the mail names it in; the relay and plugins that ask it (recipient-verify)
// find the same route.
import assert from 'node:assert/strict';
import { RouteTable } from '../../../core/relay/routes.ts';
import { relayTargetFor } from '../../../core/relay/make-relay.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

describe('relay: IDN route keys', () => {
  it('a route keyed in Unicode or in A-labels matches the domain in either form, parents and case included', () => {
    const t = new RouteTable({ 'bücher.example': 'smtp://10.0.0.1:25', '.XN--R8JZ45G.jp': 'mx', '*.münchen.example': 'smtp://10.0.0.2:25' });
    for (const d of ['bücher.example', 'xn--bcher-kva.example', 'BÜCHER.example.', 'XN--BCHER-KVA.EXAMPLE']) assert.equal(t.lookup(d).url, 'smtp://10.0.0.1:25', d);
    for (const d of ['a.例え.jp', 'a.xn--r8jz45g.jp']) assert.equal(t.lookup(d).via, 'mx', d);
    for (const d of ['a.münchen.example', 'a.xn--mnchen-3ya.example']) assert.equal(t.lookup(d).url, 'smtp://10.0.0.2:25', d);
    assert.equal(t.lookup('other.example').via, 'default');
  });

  it('relayTarget (what recipient-verify asks) finds the route either way', async () => {
    const cfg = await validateConfig({ domains: ['bücher.example'], smarthost: 'smtp://127.0.0.1:2525', routes: { 'xn--bcher-kva.example': 'smtp://127.0.0.1:2600' } });
    for (const d of ['bücher.example', 'xn--bcher-kva.example']) {
      const t = relayTargetFor(cfg, d);
      assert.ok(t && t !== 'mx' && t.port === 2600, `${d} → ${JSON.stringify(t)}`);
    }
  });
});

describe('relay: IDN routes end to end', function () {
  this.timeout(30_000);
  let main: Smarthost;
  let routed: Smarthost;
  let gw: TestGateway | undefined;
  beforeEach(async () => { main = await startSmarthost(); routed = await startSmarthost(); });
  afterEach(async () => { await gw?.stop(); gw = undefined; await main.stop(); await routed.stop(); });

  const start = (routeKey: string, plugins: unknown[] = []) => startGateway({
    config: { domains: ['bücher.example', 'example.com'], smarthost: `smtp://127.0.0.1:${main.port}`, routes: { [routeKey]: `smtp://127.0.0.1:${routed.port}` }, plugins },
  }).then((g) => { gw = g; return g; });

  async function send(port: number, mail: string, rcpts: string[]): Promise<number[]> {
    const d = await SmtpDialog.connect(port);
    try {
      await d.hello();
      const codes = [(await d.cmd(mail)).code];
      for (const r of rcpts) codes.push((await d.cmd(`RCPT TO:<${r}>`)).code);
      codes.push((await d.data('From: a@example.org\r\nSubject: route\r\n\r\nHello.\r\n')).code);
      return codes;
    } finally { await d.quit(); }
  }

  it('route keyed in Unicode: mail for the A-label form without SMTPUTF8 takes it (it went to the default smarthost)', async () => {
    const g = await start('bücher.example');
    assert.deepEqual(await send(g.port, 'MAIL FROM:<a@example.org>', ['u@xn--bcher-kva.example', 'v@example.com']), [250, 250, 250, 250]);
    const [m] = await routed.waitFor(1);
    const [d] = await main.waitFor(1);
    // smtp-server (the test smarthost) hands the domain over decoded.
    assert.deepEqual(m.rcptTo, ['u@bücher.example']);
    assert.deepEqual(d.rcptTo, ['v@example.com']);
  });

  it('route keyed in A-labels: mail naming the domain in Unicode under SMTPUTF8 takes it', async () => {
    const g = await start('xn--bcher-kva.example');
    assert.deepEqual(await send(g.port, 'MAIL FROM:<a@example.org> SMTPUTF8', ['u@bücher.example']), [250, 250, 250]);
    const [m] = await routed.waitFor(1);
    assert.deepEqual(m.rcptTo, ['u@bücher.example']);
    assert.equal(main.messages.length, 0);
  });

  it('recipient-verify asks the route\'s own server, in either form (it asked the default smarthost, which takes anyone)', async () => {
    routed.rcptReplies.set('ghost@bücher.example', 550);
    const g = await start('bücher.example', [{ name: 'recipient-verify' }]);
    for (const [mail, rcpt] of [['MAIL FROM:<a@example.org>', 'ghost@xn--bcher-kva.example'], ['MAIL FROM:<a@example.org> SMTPUTF8', 'ghost@bücher.example']]) {
      const d = await SmtpDialog.connect(g.port);
      try {
        await d.hello();
        assert.equal((await d.cmd(mail)).code, 250);
        const r = await d.cmd(`RCPT TO:<${rcpt}>`);
        assert.equal(r.code, 550, `${rcpt}: ${r.code} ${r.text}`);
        assert.match(r.text, /recipient refused by test smarthost/);
      } finally { await d.quit(); }
    }
  });
});

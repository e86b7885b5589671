// The DNS checks in a real gateway: XCLIENT addresses from 127.0.0.1, the loopback DNS server, a real smarthost.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

describe('DNS checks end to end (rbl, ptr, sender-domain, urlbl in the gateway)', () => {
  let dns: DnsTestServer;
  let gw: TestGateway;
  let sink: Smarthost;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        'bl.test': { '1.216.184.93': { A: '127.0.0.2' } },
        'rcpt.test': { '5.216.184.93': { A: '127.0.0.2' } },
        'score.test': { '7.216.184.93': { A: '127.0.0.3' } },
        'dead.test': {},
        'dbl.test': { 'spam.example': { A: '127.0.1.2' } },
        'client.example': { '@': { MX: '10 mx.client.example' }, mx: { A: '93.184.216.7' } },
        'nullmx.example': { '@': { MX: '0 .' } },
        '216.184.93.in-addr.arpa': { '1': { PTR: 'a.client.example' }, '5': { PTR: 'b.client.example' }, '7': { PTR: 'mx.client.example' }, '9': { PTR: 'c.client.example' } },
      },
      behaviours: { 'dead.test': { drop: true } },
    });
    sink = await startSmarthost();
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        dns: { servers: [dns.address], timeout: '300ms', tries: 1 },
        plugins: [
          { name: 'rbl', zones: [
            { zone: 'bl.test', action: 'reject', text: 'Blocked: {ip} at {zone}' },
            { zone: 'rcpt.test', action: 'reject_rcpt' },
            { zone: 'score.test', symbol: 'RBL_SCORE_TEST', score: 1 },
          ] },
          { name: 'ptr', mode: 'reject' },
          { name: 'sender-domain' },
          { name: 'urlbl', zones: [{ zone: 'dbl.test', action: 'defang' }] },
        ],
      },
    });
  });
  after(async () => { await gw?.stop(); await sink?.stop(); await dns?.stop(); });

  async function client(addr: string): Promise<{ d: SmtpDialog; hello: number }> {
    const d = await SmtpDialog.connect(gw.port);
    const r = await d.hello({ xclient: { addr } });
    return { d, hello: r.code };
  }

  it('refuses a client listed in a reject zone right after XCLIENT gives its address', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    await d.cmd('EHLO client.test');
    const r = await d.cmd('XCLIENT ADDR=93.184.216.1 NAME=[UNAVAILABLE]');
    assert.equal(r.code, 554, r.text);
    assert.match(r.text, /Blocked: 93\.184\.216\.1 at bl\.test/);
    await d.quit();
  });

  it('refuses each RCPT of a client in a reject_rcpt zone', async () => {
    const { d, hello } = await client('93.184.216.5');
    assert.equal(hello, 250);
    assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
    const r = await d.cmd('RCPT TO:<user@example.com>');
    assert.equal(r.code, 550, r.text);
    assert.match(r.text, /listed at rcpt\.test/);
    await d.quit();
  });

  it('refuses MAIL FROM a null-MX domain, and a client without PTR', async () => {
    const a = await client('93.184.216.7');
    const r = await a.d.cmd('MAIL FROM:<joe@nullmx.example>');
    assert.equal(r.code, 550, r.text);
    await a.d.quit();
    const b = await client('93.184.216.200');
    const r2 = await b.d.cmd('MAIL FROM:<joe@client.example>');
    assert.equal(r2.code, 550, r2.text);
    assert.match(r2.text, /reverse DNS/);
    await b.d.quit();
  });

  it('relays a clean message with the listed link defanged and the scored listing recorded', async () => {
    const before = sink.messages.length;
    const { d } = await client('93.184.216.7');
    assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const r = await d.data(testMessage({ from: 'joe@client.example', body: 'Visit http://www.spam.example/deal and https://client.example/\r\n' }));
    assert.equal(r.code, 250, r.text);
    await d.quit();
    const [m] = (await sink.waitFor(before + 1)).slice(before);
    const raw = m.raw.toString();
    assert.match(raw, /Visit link removed and https:\/\/client\.example\//);
    assert.match(raw, /RBL_SCORE_TEST/);
  });

  it('a blocklist that never answers makes the client try again later (4xx), never a pass', async () => {
    await gw.stop();
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        dns: { servers: [dns.address], timeout: '200ms', tries: 1 },
        plugins: [{ name: 'rbl', zones: [{ zone: 'dead.test', action: 'reject' }] }],
      },
    });
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    await d.cmd('EHLO client.test');
    const r = await d.cmd('XCLIENT ADDR=93.184.216.9 NAME=[UNAVAILABLE]');
    assert.ok(r.code >= 400 && r.code < 500, `${r.code} ${r.text}`);
    await d.quit();
  });
});

// XFORWARD is not offered: it would change the client address the checks of later phases see without running the
// connect checks (a blocklist) for it. A proxy names its client with XCLIENT, which runs them; XFORWARD gets the
// reply of any unknown command, from a trusted proxy and from anyone else alike.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

describe('XFORWARD', () => {
  let dns: DnsTestServer;
  let gw: RelayingGateway;
  before(async () => {
    dns = await startDnsServer({ zones: { 'bl.test': { '99.0.0.127': { A: '127.0.0.2' } } } });
    gw = await startRelayingGateway({
      config: {
        server: { trusted_proxies: ['127.0.0.1/32'] },
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'rbl', zones: [{ zone: 'bl.test', action: 'reject', text: 'Blocked: {ip} at {zone}' }] }],
      },
    });
  });
  after(async () => { await gw?.stop(); await dns?.stop(); });

  const summaryOf = (qid: string | undefined) => gw.logs.find((l) => l.msg === 'message' && l.qid === qid);

  it('the listed address is refused when a proxy names it with XCLIENT', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    await d.cmd('EHLO proxy.test');
    const r = await d.cmd('XCLIENT ADDR=127.0.0.99 NAME=[UNAVAILABLE]');
    assert.equal(r.code, 554, r.text);
    assert.match(r.text, /Blocked: 127\.0\.0\.99 at bl\.test/);
    await d.quit();
  });

  it('is not offered to a trusted proxy, is refused as an unknown command, and cannot change the client (EHLO after it)', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    const ehlo = await d.cmd('EHLO proxy.test');
    assert.ok(ehlo.lines.some((l) => /^XCLIENT\b/.test(l)), ehlo.text);
    assert.ok(!ehlo.lines.some((l) => /^XFORWARD\b/i.test(l)), `XFORWARD offered:\n${ehlo.text}`);
    const x = await d.cmd('XFORWARD ADDR=127.0.0.99');
    assert.equal(x.code, 500, x.text);
    assert.match(x.text, /^5\.5\.2 /);
    assert.equal((await d.cmd('EHLO spam.test')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const sent = await d.data(testMessage({ subject: 'xforward-a' }));
    await d.quit();
    assert.equal(sent.code, 250, sent.text);
    const qid = /queued as (\S+)/.exec(sent.text)?.[1];
    // The client is the one the connection came from, never the address XFORWARD named without any check.
    assert.equal(summaryOf(qid)?.client, '127.0.0.1', JSON.stringify(summaryOf(qid)));
    const [m] = await gw.sink.waitFor(1);
    assert.match(m.raw.toString('latin1'), /^Received: from spam\.test \(unknown \[127\.0\.0\.1\]\)/m);
    assert.doesNotMatch(m.raw.toString('latin1'), /127\.0\.0\.99/);
  });

  it('cannot change the client in Postfix\'s order either (EHLO, XFORWARD, MAIL)', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    assert.equal((await d.cmd('EHLO proxy.test')).code, 250);
    const x = await d.cmd('XFORWARD NAME=spam.test ADDR=127.0.0.99 HELO=spam.test');
    assert.equal(x.code, 500, x.text);
    assert.equal((await d.cmd('MAIL FROM:<>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const sent = await d.data(testMessage({ subject: 'xforward-b' }));
    await d.quit();
    assert.equal(sent.code, 250, sent.text);
    const line = summaryOf(/queued as (\S+)/.exec(sent.text)?.[1]);
    assert.equal(line?.client, '127.0.0.1', JSON.stringify(line));
    assert.equal(line?.helo, 'proxy.test', JSON.stringify(line));
  });

  it('gets the same reply from a client that is not a trusted proxy', async () => {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.2' });
    await d.read();
    const ehlo = await d.cmd('EHLO client.test');
    assert.ok(!ehlo.lines.some((l) => /^(XFORWARD|XCLIENT)\b/i.test(l)), ehlo.text);
    const x = await d.cmd('XFORWARD ADDR=127.0.0.99');
    assert.equal(x.code, 500, x.text);
    assert.match(x.text, /^5\.5\.2 /);
    await d.quit();
  });
});

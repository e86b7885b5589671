// After XCLIENT the session is the named client's, and EHLO greets that client, not the proxy: by the name XCLIENT
// gave, or by its address when it gave none (smtp-server kept the proxy's `[127.0.0.2]` then).
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

describe('EHLO after XCLIENT', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { server: { trusted_proxies: ['127.0.0.2'] } } });
  });
  after(() => gw.stop());

  /** The first line of the EHLO reply after `xclient`, sent from the proxy at 127.0.0.2. */
  async function ehloAfter(xclient: string): Promise<string> {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.2' });
    try {
      assert.equal((await d.read()).code, 220);
      const before = await d.cmd('EHLO proxy.test');
      assert.equal(before.code, 250);
      assert.match(before.lines[0], /\[127\.0\.0\.2\]/, 'before XCLIENT the proxy is the client');
      assert.equal((await d.cmd(`XCLIENT ${xclient}`)).code, 220);
      const r = await d.cmd('EHLO client.test');
      assert.equal(r.code, 250);
      return r.lines[0];
    } finally { await d.quit(); }
  }

  it('greets the address XCLIENT named when it gave no name', async () => {
    const line = await ehloAfter('ADDR=192.0.2.1');
    assert.match(line, /Nice to meet you, \[192\.0\.2\.1\]$/);
  });

  it('greets the name XCLIENT gave', async () => {
    const line = await ehloAfter('ADDR=192.0.2.1 NAME=client.example');
    assert.match(line, /Nice to meet you, client\.example$/);
  });

  it('greets the address when XCLIENT says the name is unavailable', async () => {
    const line = await ehloAfter('NAME=[UNAVAILABLE] ADDR=192.0.2.1');
    assert.match(line, /Nice to meet you, \[192\.0\.2\.1\]$/);
  });
});

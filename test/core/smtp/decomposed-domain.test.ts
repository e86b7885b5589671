// A local internationalized domain written decomposed (`mu\u0308ller.example`: u and a combining diaeresis), as UTS 46
// reads it: `müller.example` once composed (NFC). It was refused 554 as a foreign domain. Real gateway, real sink.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

describe('a decomposed spelling of a local IDN domain', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway({ config: { domains: ['müller.example'] } }); });
  after(async () => { await gw?.stop(); });

  it('is accepted from a client that may not relay and reaches the next hop; a foreign domain still is not', async () => {
    const decomposed = 'info@MU\u0308ller.example';
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.7' } })).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<ann@sender.example> SMTPUTF8')).code, 250);
      const foreign = await c.cmd('RCPT TO:<info@mu\u0308ller.test>');
      assert.equal(foreign.code, 554, foreign.text);
      const rcpt = await c.cmd(`RCPT TO:<${decomposed}>`);
      assert.equal(rcpt.code, 250, rcpt.text);
      const dot = await c.data('From: ann@sender.example\r\nTo: info@example.com\r\nSubject: composed\r\n\r\nHello.\r\n');
      assert.equal(dot.code, 250, dot.text);
    } finally {
      await c.quit();
    }
    const [got] = await gw.sink.waitFor(1);
    assert.equal(got.rcptTo.length, 1);
    assert.equal(got.rcptTo[0].normalize('NFC').toLowerCase(), 'info@müller.example');
  });
});

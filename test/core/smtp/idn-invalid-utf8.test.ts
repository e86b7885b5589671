// An envelope address that is not valid UTF-8 is refused at MAIL and RCPT (553 5.6.7), never relayed as another
// address: smtp-server reads the line as UTF-8, and bytes that are not turned into U+FFFD (`p��@example.org`).
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const line = (...parts: Array<string | number[]>) => Buffer.concat([...parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))), Buffer.from('\r\n')]);

describe('SMTP: envelope addresses that are not valid UTF-8', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway(); });
  after(async () => { await gw?.stop(); });

  it('MAIL FROM with bytes that are not UTF-8 gets 553 5.6.7, with or without SMTPUTF8; a valid address then passes', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      for (const params of [' SMTPUTF8', '']) {
        d.write(line('MAIL FROM:<p', [0xff, 0xfe], `@example.org>${params}`));
        const r = await d.read();
        assert.equal(`${r.code} ${r.text}`, '553 5.6.7 Address is not valid UTF-8');
      }
      // A lone continuation byte in the domain, and a sequence cut short.
      d.write(line('MAIL FROM:<p@ex', [0x80], 'ample.org> SMTPUTF8'));
      assert.equal((await d.read()).code, 553);
      d.write(line('MAIL FROM:<p', [0xc3], '@example.org> SMTPUTF8'));
      assert.equal((await d.read()).code, 553);
      assert.equal((await d.cmd('MAIL FROM:<pétur@example.org> SMTPUTF8')).code, 250);
    } finally { await d.quit(); }
  });

  it('RCPT TO with bytes that are not UTF-8 gets 553 5.6.7; the message goes to the valid recipient only', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<a@example.org> SMTPUTF8')).code, 250);
      d.write(line('RCPT TO:<u', [0xe9], '@example.com>'));
      const r = await d.read();
      assert.equal(`${r.code} ${r.text}`, '553 5.6.7 Address is not valid UTF-8');
      assert.equal((await d.cmd('RCPT TO:<ué@example.com>')).code, 250);
      assert.equal((await d.data('Subject: t\r\n\r\nHello.\r\n')).code, 250);
    } finally { await d.quit(); }
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ué@example.com']);
    assert.equal(m.mailFrom, 'a@example.org');
  });
});

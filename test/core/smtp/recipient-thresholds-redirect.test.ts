// scores.domains after a plugin that redirects recipients: a@custa.example goes to b@custb.example (another threshold
// set). When the client then names b@custb.example itself, the redirect's copy is in the transaction already and is
// delivered with it, so the client's own RCPT is taken, not sent to another transaction: a 452 there would make the
// client send the message to b a second time. This file is also the alias plugin: the gateway imports it by its URL.
import assert from 'node:assert/strict';
import { aliasPlugin } from '../../helpers/alias-plugin.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

export default aliasPlugin('alias-across-thresholds', { 'a@custa.example': ['b@custb.example'] });

describe('scores.domains with a redirect into another threshold set', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: {
        domains: ['custa.example', 'custb.example'],
        scores: { domains: { 'custa.example': { reject: 10 }, 'custb.example': { quarantine: null, reject: null } } },
        plugins: [{ name: 'alias-across-thresholds', module: import.meta.filename }],
      },
    });
  });
  after(async () => { await gw?.stop(); });

  it('takes the client\'s own RCPT of an address a redirect already added, and delivers it once', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<partner@shop.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<a@custa.example>')).code, 250);
      const named = await d.cmd('RCPT TO:<b@custb.example>');
      assert.equal(named.code, 250, `${named.code} ${named.text}`);
      const sent = await d.data(testMessage({ from: 'partner@shop.example', to: 'a@custa.example', subject: 'redirect-once' }));
      assert.equal(sent.code, 250, sent.text);
    } finally { await d.quit(); }
    await gw.sink.waitForText('redirect-once');
    const copies = gw.sink.messages.filter((m) => m.raw.toString('latin1').includes('redirect-once'));
    assert.equal(copies.length, 1);
    assert.deepEqual(copies[0].rcptTo, ['b@custb.example']);
  });
});

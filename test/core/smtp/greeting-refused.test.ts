// A refused HELO or EHLO leaves the session as the greeting accepted before it left it (RFC 5321 §4.1.4): after a good
// EHLO, a refused HELO keeps PIPELINING and MAIL's parameters; after a good HELO, a refused EHLO gives neither; the
// Received field names the accepted greeting's protocol. smtp-server took the refused verb as the session's. Real
// gateway with a helo hook that refuses names holding `!`, relaying to a real smarthost.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const REFUSE_HELO = path.resolve(import.meta.dirname, 'refuse-helo-plugin.ts');
const line = (r: { code: number; text: string }) => `${r.code} ${r.text}`;

describe('a refused greeting after an accepted one', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { server: { greeting_delay: 0 }, plugins: [{ name: 'refuse-helo', module: REFUSE_HELO }] } });
  });
  after(() => gw?.stop());

  async function greeted(verb: 'HELO' | 'EHLO'): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.read()).code, 220);
    assert.equal((await d.cmd(`${verb} client.test`)).code, 250);
    return d;
  }

  it('EHLO, then a refused HELO: parameters and pipelining stay allowed, and the message is received with ESMTP', async () => {
    const d = await greeted('EHLO');
    assert.equal(line(await d.cmd('HELO bad!name')), '550 5.7.1 Not a host name');
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example> BODY=8BITMIME')).code, 250, 'no 555: EHLO offered 8BITMIME');
    d.write('RCPT TO:<user@example.com>\r\nNOOP\r\n');
    assert.equal((await d.read()).code, 250, 'a pipelined RCPT is taken: PIPELINING is still offered');
    assert.equal((await d.read()).code, 250);
    assert.equal((await d.data(testMessage({ subject: 'ehlo-then-refused-helo' }))).code, 250);
    await d.quit();
    assert.match(await gw.sink.waitForText('ehlo-then-refused-helo'), /\) with ESMTP id /);
  });

  it('HELO, then a refused EHLO: parameters get 555 and the message is received with SMTP', async () => {
    const d = await greeted('HELO');
    assert.equal(line(await d.cmd('EHLO bad!name')), '550 5.7.1 Not a host name');
    const withParam = await d.cmd('MAIL FROM:<sender@client.example> BODY=8BITMIME');
    assert.equal(withParam.code, 555, line(withParam));
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.data(testMessage({ subject: 'helo-then-refused-ehlo' }))).code, 250);
    await d.quit();
    assert.match(await gw.sink.waitForText('helo-then-refused-ehlo'), /\) with SMTP id /);
  });

  it('a greeting refused for its syntax (501) leaves the EHLO before it too', async () => {
    const d = await greeted('EHLO');
    assert.equal((await d.cmd('HELO')).code, 501);
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example> SIZE=100')).code, 250, 'no 555: EHLO offered SIZE');
    await d.quit();
  });
});

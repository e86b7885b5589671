// limits.max_header_size: a message whose header section is larger gets 552 5.3.4 after its final dot (the client
// reads the reply), is logged with the reason and never relayed; one within the limit is relayed whole.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

/** A message whose header section is about `bytes` long: padding fields of 1,000 bytes before the usual ones. */
function withHeaderOf(bytes: number, subject: string): string {
  const field = `X-Pad: ${'p'.repeat(990)}\r\n`;
  const pad = field.repeat(Math.floor(bytes / field.length));
  return pad + testMessage({ subject, body: 'body line\r\n' });
}

async function send(gw: RelayingGateway, message: string): Promise<{ code: number; text: string }> {
  const d = await SmtpDialog.connect(gw.port);
  try {
    assert.equal((await d.hello()).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    return await d.data(message);
  } finally { await d.quit(); }
}

describe('limits.max_header_size', function () {
  this.timeout(30_000);
  let gw: RelayingGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });

  it('refuses a 1.1 MB header section with 552 5.3.4 after the final dot (default 256 KB), logged and not relayed', async () => {
    gw = await startRelayingGateway();
    const r = await send(gw, withHeaderOf(1_100_000, 'huge-header'));
    assert.equal(r.code, 552);
    assert.equal(r.text, '5.3.4 Message header too large');
    const line = gw.logs.find((l) => l.msg === 'message' && l.verdict === 'reject');
    assert.match(String(line?.reason), /max_header_size/);
    assert.equal(line?.reply, '552 5.3.4 Message header too large');
    // The session goes on: the next message is taken.
    const ok = await send(gw, testMessage({ subject: 'after-huge' }));
    assert.equal(ok.code, 250);
    await gw.sink.waitForText('after-huge');
    assert.equal(gw.sink.messages.some((m) => m.raw.includes('huge-header')), false);
  });

  it('relays whole a message whose header section is just under the limit', async () => {
    gw = await startRelayingGateway();
    const message = withHeaderOf(250 * 1024, 'big-header');
    const r = await send(gw, message);
    assert.equal(r.code, 250);
    const got = await gw.sink.waitForText('big-header');
    assert.ok(got.endsWith(message), 'the message arrives whole after the gateway\'s own fields');
  });

  it('takes the configured size', async () => {
    gw = await startRelayingGateway({ config: { limits: { max_header_size: '64KB' } } });
    assert.equal((await send(gw, withHeaderOf(60 * 1024, 'under'))).code, 250);
    const r = await send(gw, withHeaderOf(70 * 1024, 'over'));
    assert.deepEqual([r.code, r.text], [552, '5.3.4 Message header too large']);
  });
});

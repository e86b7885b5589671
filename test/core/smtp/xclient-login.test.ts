// XCLIENT LOGIN from a trusted proxy (nginx's `xclient on`, which authenticated the client itself): the session
// becomes that user's without a password check, as Postfix's XCLIENT does, and never counts as a failed AUTH.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const PROXY = '127.0.0.5';

describe('XCLIENT LOGIN from a trusted proxy', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { server: { trusted_proxies: [PROXY] }, limits: { max_auth_failures: 3 } } });
  });
  after(() => gw?.stop());

  /** Connects from the proxy's address, says EHLO, sends `xclient`; returns the dialog and the XCLIENT reply. */
  async function viaProxy(xclient: string): Promise<{ d: SmtpDialog; code: number; text: string }> {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: PROXY });
    assert.equal((await d.read()).code, 220);
    const ehlo = await d.cmd('EHLO proxy.test');
    assert.ok(ehlo.lines.some((l) => /^XCLIENT\b.*\bLOGIN\b/.test(l)), ehlo.text);
    const r = await d.cmd(xclient);
    return { d, code: r.code, text: r.text };
  }

  async function relayAttempt(d: SmtpDialog): Promise<number> {
    assert.equal((await d.cmd('EHLO client.test')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<alice@example.com>')).code, 250);
    const r = await d.cmd('RCPT TO:<someone@elsewhere.test>');
    await d.cmd('RSET');
    return r.code;
  }

  it('makes the session the named user\'s, who may relay, and logs the proxy it came through', async () => {
    const before = gw.logs.length;
    const { d, code, text } = await viaProxy('XCLIENT ADDR=198.51.100.7 NAME=[UNAVAILABLE] LOGIN=alice');
    assert.equal(code, 220, text);
    assert.equal(await relayAttempt(d), 250, 'an authenticated user may relay');
    await d.quit();
    const line = gw.logs.slice(before).find((l) => l.msg === 'authenticated');
    assert.ok(line, 'an authenticated line');
    assert.equal(line.user, 'alice');
    assert.equal(line.method, 'XCLIENT');
    assert.equal(line.proxy, PROXY);
    assert.equal(line.client, '198.51.100.7');
    assert.ok(!gw.logs.slice(before).some((l) => l.msg === 'authentication failed'), 'no failure is logged');
  });

  it('never counts against the AUTH ban, the proxy\'s or the client\'s, however many sessions', async () => {
    for (let i = 1; i <= 6; i++) {
      const { d, code, text } = await viaProxy(`XCLIENT ADDR=198.51.100.${i} LOGIN=alice`);
      assert.equal(code, 220, `session ${i}: ${text}`);
      assert.equal(await relayAttempt(d), 250, `session ${i} relays`);
      await d.quit();
    }
    const { authFailures, config } = gw.gateway.runtime;
    for (const ip of [PROXY, '198.51.100.1', '198.51.100.6']) assert.ok(!authFailures.refused(ip, config.limits.max_auth_failures), ip);
    assert.equal(authFailures.size, 0, 'nothing was counted');
    assert.ok(!gw.logs.some((l) => l.msg === 'authentication refused: too many failures from this address'));
  });

  it('gives no user for LOGIN=[UNAVAILABLE] or [TEMPUNAVAIL]: the client may not relay', async () => {
    for (const none of ['[UNAVAILABLE]', '[TEMPUNAVAIL]']) {
      const { d, code, text } = await viaProxy(`XCLIENT ADDR=198.51.100.20 LOGIN=${none}`);
      assert.equal(code, 220, `${none}: ${text}`);
      assert.equal(await relayAttempt(d), 554, `${none}: relaying is refused`);
      await d.quit();
    }
  });

  it('does not let a client named by a later XCLIENT ADDR keep the user a LOGIN gave the proxy', async () => {
    const { d, code } = await viaProxy('XCLIENT LOGIN=alice');
    assert.equal(code, 220);
    assert.equal((await d.cmd('EHLO proxy.test')).code, 250);
    assert.equal((await d.cmd('XCLIENT ADDR=198.51.100.30')).code, 220);
    assert.equal(await relayAttempt(d), 554, 'the client named afterwards is not alice');
    await d.quit();
  });
});

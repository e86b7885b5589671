// MAIL FROM's and RCPT TO's parameters judged as the client wrote them: ENVID must be xtext decoding to printable
// ASCII within 100 characters (RFC 3461 §4, §4.4), ORCPT addr-type;xtext, and REQUIRETLS (RFC 8689), which the
// gateway does not offer, gets the 555 of any parameter not offered, in plaintext and after STARTTLS alike.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, greeted } from '../../helpers/smtp-dialog.ts';
import { isXtext, envelopeParamsProblem, MAIL_PARAMS_DSN, RCPT_PARAMS_DSN } from '../../../core/smtp/envelope-params.ts';

describe('MAIL FROM and RCPT TO parameters as sent', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  before(async () => { gw = await startGateway({ config: { limits: { max_errors: 20 } } }); });
  after(() => gw?.stop());

  it('refuses an ENVID that is not xtext or not printable ASCII with 501 5.5.4 naming ENVID', async () => {
    const { d } = await greeted(gw.port);
    const long = 'x'.repeat(101);
    for (const envid of ['foo+0Abar', 'foo+ZZ', 'foo+2b', 'a=b', 'a+', long, '+00']) {
      const r = await d.cmd(`MAIL FROM:<a@client.example> ENVID=${envid}`);
      assert.equal(r.code, 501, `${envid.slice(0, 20)}: ${r.text}`);
      assert.match(r.text, /^5\.5\.4 ENVID /, envid.slice(0, 20));
    }
    const valueless = await d.cmd('MAIL FROM:<a@client.example> ENVID');
    assert.equal(valueless.code, 501, valueless.text);
    await d.quit();
  });

  it('takes a valid ENVID, hex escapes included, up to 100 characters', async () => {
    const { d } = await greeted(gw.port);
    for (const envid of ['abc', 'QQ+2Bid+3Dx', 'y'.repeat(100), 'a+20b']) {
      const r = await d.cmd(`MAIL FROM:<a@client.example> RET=HDRS ENVID=${envid}`);
      assert.equal(r.code, 250, `${envid.slice(0, 20)}: ${r.text}`);
      assert.equal((await d.cmd('RSET')).code, 250);
    }
    await d.quit();
  });

  it('neither offers REQUIRETLS nor takes it: 555 5.5.4 in plaintext and after STARTTLS', async () => {
    const { d, ehlo } = await greeted(gw.port);
    assert.ok(!ehlo.some((l) => /^REQUIRETLS\b/i.test(l)), ehlo.join('|'));
    const plain = await d.cmd('MAIL FROM:<a@client.example> REQUIRETLS');
    assert.equal(plain.code, 555, plain.text);
    assert.match(plain.text, /^5\.5\.4 Unsupported parameter REQUIRETLS/);
    assert.equal((await d.starttls()).code, 220);
    const secured = await d.cmd('EHLO client.test');
    assert.equal(secured.code, 250);
    assert.ok(!secured.lines.some((l) => /^REQUIRETLS\b/i.test(l)), secured.text);
    const tls = await d.cmd('MAIL FROM:<a@client.example> REQUIRETLS');
    assert.equal(tls.code, 555, tls.text);
    assert.match(tls.text, /^5\.5\.4 Unsupported parameter REQUIRETLS/);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250, 'the session goes on');
    await d.quit();
  });

  it('counts these refusals toward limits.max_errors', async () => {
    const small = await startGateway({ config: { limits: { max_errors: 3 } } });
    try {
      const d = await SmtpDialog.connect(small.port);
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<a@client.example> ENVID=a+ZZ')).code, 501);
      assert.equal((await d.cmd('MAIL FROM:<a@client.example> REQUIRETLS')).code, 555);
      assert.equal((await d.cmd('MAIL FROM:<a@client.example> ENVID=a+ZZ')).code, 501, 'the refusal that reaches the limit, as it is');
      const last = await d.cmd('MAIL FROM:<a@client.example>');
      assert.equal(last.code, 421, last.text);
      await d.quit();
    } finally { await small.stop(); }
  });

  it('refuses an ORCPT that is not addr-type;xtext with 501 5.5.4 naming ORCPT, and takes a valid one', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    for (const orcpt of ['rfc822;a+ZZ@b.test', 'rfc822;a+0A@b.test', 'rfc822;a=b@b.test', 'rfc822', 'utf-8;a+0Ab@b.test']) {
      const r = await d.cmd(`RCPT TO:<u@example.com> ORCPT=${orcpt}`);
      assert.equal(r.code, 501, `${orcpt}: ${r.text}`);
      assert.match(r.text, /^5\.5\.4 ORCPT /, orcpt);
    }
    const unknown = await d.cmd('RCPT TO:<u@example.com> FOO=+0A');
    assert.equal(unknown.code, 555, unknown.text);
    for (const orcpt of ['rfc822;ok+2B1@b.test', 'utf-8;j\\x{F6}rg@b.test']) {
      const r = await d.cmd(`RCPT TO:<u${orcpt.length}@example.com> ORCPT=${orcpt}`);
      assert.equal(r.code, 250, `${orcpt}: ${r.text}`);
    }
    await d.quit();
  });

  it('keeps a MAIL inside a transaction, and a RCPT outside one, to smtp-server\'s 503', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example> REQUIRETLS')).code, 503);
    await d.quit();
    const fresh = await greeted(gw.port);
    assert.equal((await fresh.d.cmd('RCPT TO:<u@example.com> FOO')).code, 503, 'and a RCPT outside one');
    await fresh.d.quit();
  });

  it('reads xtext as RFC 3461 defines it (unit)', () => {
    assert.ok(isXtext('') && isXtext('!~<>') && isXtext('a+2Bb'));
    for (const bad of ['+', '+2', '+2b', 'a b', 'a=b', 'é', '+G0']) assert.ok(!isXtext(bad), bad);
    assert.equal(envelopeParamsProblem('MAIL FROM:<a@b> ENVID=ok SIZE=10', 'MAIL FROM', MAIL_PARAMS_DSN), undefined);
    assert.equal(envelopeParamsProblem('MAIL FROM:<a@b> envid=a+ZZ', 'MAIL FROM', MAIL_PARAMS_DSN)?.code, 501, 'names in any case');
    assert.equal(envelopeParamsProblem('RCPT TO:<a@b> FOO', 'MAIL FROM', MAIL_PARAMS_DSN), undefined, 'not a MAIL line');
    assert.equal(envelopeParamsProblem('RCPT TO:<a@b> ORCPT=utf-8;j\\x{F6}rg@b', 'RCPT TO', RCPT_PARAMS_DSN), undefined);
    assert.equal(envelopeParamsProblem('RCPT TO:<a@b> ORCPT=utf-8;a\\b@b', 'RCPT TO', RCPT_PARAMS_DSN)?.code, 501, 'a bare backslash');
  });
});

// The envelope addresses plugins get are @haraka/email-address Addresses, as in Haraka 3.2 and later: `address` and
// `host` are strings. A plugin written for address-rfc2821 that calls `.address()` throws a TypeError, which the shim
// logs with the plugin's name and counts as CONT, as Haraka does with a hook that throws.
import assert from 'node:assert/strict';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { useFolderGateway } from './folder-gateway.ts';

const ADDRESSES = `
exports.hook_mail = function (next, connection, params) {
  const from = params[0]
  connection.transaction.add_header('X-Mail-From', typeof from.address + ' ' + from.address + ' host=' + from.host)
  next()
}
exports.hook_rcpt = function (next, connection, params) {
  // address-rfc2821's method: gone since Haraka 3.2
  const to = params[0].address()
  next(DENY, 'refused ' + to)
}
`;

describe('haraka shim: Address.address is a property', function () {
  this.timeout(30_000);
  const bed = useFolderGateway('haraka-address-calls', {
    config: { plugins: 'addresses\n', 'log.ini': '[main]\nlevel=WARN\n' },
    plugins: { addresses: ADDRESSES },
  });

  it('reads address and host as strings; a call of .address() is a logged TypeError and the hook counts as CONT', async () => {
    const d = await SmtpDialog.connect(bed.gw.port);
    try {
      await d.hello({ helo: 'mail.example.org' });
      assert.equal((await d.cmd('MAIL FROM:<Alice@Example.ORG>')).code, 250);
      const rcpt = await d.cmd('RCPT TO:<bob@example.test>');
      assert.equal(rcpt.code, 250, `the throwing hook's DENY is never reached: ${rcpt.text}`);
      assert.equal((await d.data(['From: alice@example.org', 'To: bob@example.test', 'Subject: address calls', '', 'hi', ''].join('\r\n'))).code, 250);
    } finally {
      await d.quit();
    }
    const raw = await bed.gw.sink.waitForText('Subject: address calls');
    assert.match(raw, /^X-Mail-From: string Alice@Example\.ORG host=example\.org\r$/m);
    const failed = await waitFor('the failure line', () => bed.gw.logs.find((l) => String(l.msg).startsWith('Plugin addresses failed: ')));
    assert.equal(failed.level, 'error');
    assert.match(String(failed.msg), /^Plugin addresses failed: TypeError: params\[0\]\.address is not a function\n {4}at exports\.hook_rcpt \(.*addresses\.js:9:24\)/);
  });
});

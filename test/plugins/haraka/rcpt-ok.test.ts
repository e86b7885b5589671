// rcpt_ok runs for every recipient the gateway accepts, also one no rcpt plugin vouched for that the gateway's own
// `domains` setting takes (Haraka runs it after any acceptance), and its refusal answers that RCPT; a recipient the
// relay rule refuses never gets there.
import assert from 'node:assert/strict';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { useFolderGateway } from './folder-gateway.ts';
import { message } from './setup.ts';

const WATCH = `
exports.hook_rcpt_ok = function (next, connection, rcpt) {
  const seen = connection.notes.rcpt_ok_seen = connection.notes.rcpt_ok_seen || []
  seen.push(rcpt.address)
  if (rcpt.user === 'grey') return next(DENYSOFT, 'greylisted by rcpt_ok')
  next()
}
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('X-Rcpt-Ok-Seen', connection.notes.rcpt_ok_seen.join(','))
  next()
}
`;

describe('haraka shim: rcpt_ok for a recipient the gateway\'s domains accept', function () {
  this.timeout(30_000);
  const bed = useFolderGateway('haraka-rcpt-ok', {
    config: { plugins: 'watch_rcpt_ok\n', 'log.ini': '[main]\nlevel=WARN\n' },
    plugins: { watch_rcpt_ok: WATCH },
  });

  it('runs rcpt_ok for local recipients, lets its DENYSOFT answer the RCPT, and skips a refused relay', async () => {
    const d = await SmtpDialog.connect(bed.gw.port);
    // A client on the Internet, not in relay.networks: only the domains setting can accept its recipients.
    await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    const grey = await d.cmd('RCPT TO:<grey@example.test>');
    assert.equal(grey.code, 450, grey.text);
    assert.match(grey.text, /greylisted by rcpt_ok/);
    assert.equal((await d.cmd('RCPT TO:<someone@elsewhere.example>')).code, 554);
    assert.equal((await d.cmd('RCPT TO:<carol@example.test>')).code, 250);
    assert.equal((await d.data(message({ to: 'bob@example.test' }))).code, 250);
    await d.quit();
    const raw = await bed.gw.sink.waitForText('X-Rcpt-Ok-Seen');
    assert.match(raw, /^X-Rcpt-Ok-Seen: bob@example\.test,grey@example\.test,carol@example\.test\r$/m);
    assert.deepEqual(bed.gw.sink.messages[0].rcptTo, ['bob@example.test', 'carol@example.test']);
  });
});

// transaction.set_banner reaches the relayed message: Haraka adds the banner to each text part (plain and HTML, in
// multiparts too, not to attachments), and the shim puts the body Haraka rebuilt into the gateway's message.
import assert from 'node:assert/strict';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { useFolderGateway } from './folder-gateway.ts';

const BANNER = `
exports.hook_data = function (next, connection) {
  connection.transaction.set_banner('-- scanned by Example Gateway', '<i>scanned by Example Gateway</i>')
  next()
}
`;

const HEAD = ['From: Alice <alice@example.org>', 'To: bob@example.test', 'Message-ID: <m@example.org>', 'MIME-Version: 1.0'];

describe('haraka shim: transaction.set_banner', function () {
  this.timeout(30_000);
  const bed = useFolderGateway('haraka-banner', {
    config: { plugins: 'banner\n', 'log.ini': '[main]\nlevel=WARN\n' },
    plugins: { banner: BANNER },
  });

  async function relay(subject: string, lines: string[]): Promise<string> {
    const d = await SmtpDialog.connect(bed.gw.port);
    await d.hello({ helo: 'mail.example.org' });
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    const r = await d.data([...HEAD, `Subject: ${subject}`, ...lines, ''].join('\r\n'));
    assert.equal(r.code, 250, r.text);
    await d.quit();
    return bed.gw.sink.waitForText(`Subject: ${subject}`);
  }

  it('appends the text banner to a text/plain message, keeping its headers', async () => {
    const raw = await relay('plain', ['Content-Type: text/plain; charset=us-ascii', '', 'Hello Bob,', '', 'see you.']);
    assert.match(raw, /\r\n\r\nHello Bob,\r\n\r\nsee you\.\r\n\r?\n?-- scanned by Example Gateway\r\n/);
    assert.match(raw, /^Content-Type: text\/plain; charset=us-ascii\r$/m);
    assert.doesNotMatch(raw, /<i>scanned/);
  });

  it('adds the banners to both parts of a multipart/alternative, and none to a text attachment', async () => {
    const raw = await relay('multi', [
      'Content-Type: multipart/mixed; boundary="outer"', '',
      '--outer', 'Content-Type: multipart/alternative; boundary="alt"', '',
      '--alt', 'Content-Type: text/plain; charset=utf-8', '', 'Plain words.',
      '--alt', 'Content-Type: text/html; charset=utf-8', '', '<html><body><p>Rich words.</p></body></html>',
      '--alt--',
      '--outer', 'Content-Type: text/plain; name="notes.txt"', 'Content-Disposition: attachment; filename="notes.txt"', '', 'attached notes',
      '--outer--',
    ]);
    assert.match(raw, /Plain words\.\r\n\r?\n?-- scanned by Example Gateway\r\n/);
    assert.match(raw, /<p>Rich words\.<\/p><P><i>scanned by Example Gateway<\/i><\/P><\/body><\/html>/);
    assert.match(raw, /\r\n\r\nattached notes\r\n--outer--/);
    assert.equal(raw.match(/scanned by Example Gateway/g)?.length, 2);
  });
});

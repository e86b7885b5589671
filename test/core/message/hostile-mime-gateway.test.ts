// Hostile MIME through a real gateway whose rules read the parsed view: each message gets its answer (refused where
// a limit of the parse left parts unread, delivered where the parse read it all), and a second client's NOOP and
// message on another connection, sent while the hostile one is parsed, get theirs.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { MIME_PARTS_MAX } from '../../../core/message/mime-parse.ts';
import * as hostile from '../../../scripts/bench/lib/hostile-mime.ts';

describe('core/message: hostile MIME through a gateway', function () {
  this.timeout(120_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: {
      log: { level: 'info' },
      plugins: [{ name: 'rules', rules: [
        { name: 'executables', when: { attachment: { name: ['*.exe'] } }, actions: [{ reject: 'Executable attachments are not accepted' }] },
      ] }],
    } });
  });
  after(async () => { await gw?.stop(); });

  async function open(): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello()).code, 250);
    return d;
  }

  /** Sends `raw` on a connection of its own while a second one sends NOOP and a small message; every reply. */
  async function sendBeside(raw: Buffer, subject: string): Promise<{ hostile: SmtpReply; noop: SmtpReply; other: SmtpReply }> {
    const [d, other] = await Promise.all([open(), open()]);
    assert.equal((await d.cmd('MAIL FROM:<hostile@sender.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const reply = d.data(raw);
    const noop = await other.cmd('NOOP');
    assert.equal((await other.cmd('MAIL FROM:<friend@sender.example>')).code, 250);
    assert.equal((await other.cmd('RCPT TO:<user@example.com>')).code, 250);
    const small = await other.data(`From: friend@sender.example\r\nTo: user@example.com\r\nSubject: ${subject}\r\n\r\nhello\r\n`);
    const result = { hostile: await reply, noop, other: small };
    await Promise.all([d.quit(), other.quit()]);
    return result;
  }

  it(`refuses a message of more than ${MIME_PARTS_MAX} parts as not read in full; the other client is served`, async () => {
    const r = await sendBeside(hostile.manyParts(MIME_PARTS_MAX + 5, 60), 'beside-parts');
    assert.equal(r.hostile.code, 554);
    assert.match(r.hostile.text, new RegExp(`could not be checked in full \\(more than ${MIME_PARTS_MAX} MIME parts`));
    assert.equal(r.noop.code, 250);
    assert.equal(r.other.code, 250, r.other.text);
    await gw.sink.waitForText('beside-parts');
  });

  it('refuses a file name of 40,000 RFC 2231 sections by the .exe in its last one', async () => {
    const r = await sendBeside(hostile.filenameSections(40_000), 'beside-sections');
    assert.equal(r.hostile.code, 550);
    assert.match(r.hostile.text, /Executable attachments are not accepted/);
    assert.equal(r.other.code, 250, r.other.text);
  });

  it('delivers a quoted-printable message with a run of 300,000 spaces, the other client served meanwhile', async () => {
    const r = await sendBeside(hostile.qpBlankRun(300_000), 'beside-qp');
    assert.equal(r.hostile.code, 250, r.hostile.text);
    assert.equal(r.noop.code, 250);
    assert.equal(r.other.code, 250, r.other.text);
    await gw.sink.waitForText('beside-qp');
  });
});

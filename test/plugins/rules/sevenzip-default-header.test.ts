// A 7z as 7-Zip writes it by default (its list of files compressed) through a real gateway: real SMTP in, a recording
// smarthost out. The `*.exe` rule now sees setup.exe in it and refuses the message; a default 7z of text alone is
// relayed as sent; one whose list of files is encrypted (-mhe=on) is refused as unreadable.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { made7z } from '../../core/message/sevenzip-builder.ts';
import { PROGRAM } from '../../core/message/zip-builder.ts';
import { file, message, multipart, part } from './mime-build.ts';
import { sendRaw } from './timed-send.ts';

const SEVEN = 'application/x-7z-compressed';

/** A message of a line of text and `data` attached as `name`. */
const withArchive = (subject: string, name: string, data: Buffer) =>
  message(subject, multipart('mixed', 'seven-default-b', [part(['Content-Type: text/plain'], 'the files, packed'), file(name, SEVEN, data)]));

describe('plugins/rules: a 7z with 7-Zip\'s default compressed header, in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    ensureCommands({ '7zz': '7zip' });
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      { name: 'exe-names', when: { attachment: { name: '*.exe' } }, actions: [{ reject: 'Executable attachments are not accepted' }] },
      { name: 'unreadable', when: { attachment: { detected_type: 'application/x-unreadable-archive' } }, actions: [{ reject: 'Archive not readable' }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  it('refuses setup.exe in a 7z made as `7z a x.7z setup.exe readme.txt`, whatever the archive is named', async () => {
    const archive = made7z({ 'setup.exe': PROGRAM, 'readme.txt': 'hello\n' });
    for (const name of ['docs.7z', 'minutes.pdf']) {
      const r = await sendRaw(gw.port, withArchive(`default-7z-${name}`, name, archive));
      assert.equal(r.code, 550, `${name}: ${r.code} ${r.text}`);
      assert.match(r.text, /Executable attachments are not accepted/);
    }
  });

  it('relays a default 7z of text files byte for byte', async () => {
    const archive = made7z({ 'readme.txt': 'hello\n', 'notes/agenda.txt': 'items\n' });
    const r = await sendRaw(gw.port, withArchive('default-7z-text', 'notes.7z', archive));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const relayed = await simpleParser(Buffer.from(await gw.sink.waitForText('Subject: default-7z-text\r\n'), 'latin1'));
    assert.ok(relayed.attachments[0].content.equals(archive));
  });

  it('refuses a 7z whose list of files is encrypted (-mhe=on) as unreadable', async () => {
    const r = await sendRaw(gw.port, withArchive('default-7z-mhe', 'docs.7z', made7z({ 'readme.txt': 'hello\n' }, ['-mhe=on', '-psecret'])));
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /Archive not readable/);
  });
});

// The notice of remove_attachments when several rules took files out of one message, read at a real smarthost: each
// rule's notice stands over the files that rule removed, rules of one notice text share its heading, and a file
// two rules name is listed once, under the first.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { PROGRAM, buildZip } from '../../core/message/zip-builder.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendRaw } from './timed-send.ts';
import { file, message, multipart, part } from './mime-build.ts';

const TEXT = part(['Content-Type: text/plain; charset=us-ascii'], 'the files you asked for');
const NOTICE_PART = 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\nContent-Disposition: inline\r\n\r\n';

describe('plugins/rules: the removal notice of several rules', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      {
        name: 'no-programs', description: 'programs are not accepted by mail', when: { attachment: { name: '*.exe' } },
        actions: [{ remove_attachments: { notice: 'Programs sent to you were taken out.' } }],
      },
      { name: 'no-heic', when: { attachment: { name: '*.heic' } }, actions: ['remove_attachments'] },
      { name: 'no-scripts', description: 'scripts are not accepted', when: { attachment: { name: '*.js' } }, actions: ['remove_attachments'] },
      {
        name: 'no-archives', when: { attachment: { type: 'application/zip' } },
        actions: [{ remove_attachments: { notice: 'Archives are not delivered: ask the sender for a link.' } }],
      },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  /** The message `subject` as the smarthost got it, and the text of its one notice part. */
  async function relayed(subject: string, boundary: string): Promise<{ raw: string; notice: string }> {
    const raw = await gw.sink.waitForText(`Subject: ${subject}\r\n`);
    const at = raw.indexOf(NOTICE_PART);
    assert.ok(at > 0, 'a notice part');
    assert.equal(raw.indexOf(NOTICE_PART, at + 1), -1, 'one notice part only');
    const start = at + NOTICE_PART.length;
    return { raw, notice: raw.slice(start, raw.indexOf(`\r\n--${boundary}`, start)) };
  }

  it('each rule\'s notice over its own files; the two rules on the default share its heading, in rule order', async () => {
    const r = await sendRaw(gw.port, message('several-1', multipart('mixed', 'n1', [
      TEXT, file('run.js', 'application/javascript', Buffer.from('alert(1)')), file('setup.exe', 'application/octet-stream', PROGRAM),
      file('photo.heic', 'image/heic', Buffer.from('....ftypheic')),
    ])));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const { raw, notice } = await relayed('several-1', 'n1');
    assert.equal(notice, [
      'Programs sent to you were taken out.',
      '',
      '- setup.exe: programs are not accepted by mail',
      '',
      'The mail gateway removed attachments from this message:',
      '',
      '- photo.heic: rule no-heic',
      '- run.js: scripts are not accepted',
    ].join('\r\n'));
    const mail = await simpleParser(Buffer.from(raw, 'latin1'));
    assert.deepEqual(mail.attachments.map((a) => a.filename), []);
    assert.match(mail.text!, /^the files you asked for\n/);
  });

  it('a ZIP with a program in it is the program rule\'s, listed once; another ZIP is the archive rule\'s, under its notice', async () => {
    const r = await sendRaw(gw.port, message('several-2', multipart('mixed', 'n2', [
      TEXT,
      file('tools.zip', 'application/zip', buildZip([{ name: 'setup.exe', data: PROGRAM }])),
      file('photos.zip', 'application/zip', buildZip([{ name: 'beach.jpg', data: Buffer.from('\xff\xd8\xff\xe0', 'latin1') }])),
    ])));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const { notice } = await relayed('several-2', 'n2');
    assert.equal(notice, [
      'Programs sent to you were taken out.',
      '',
      '- tools.zip (it held tools.zip / setup.exe): programs are not accepted by mail',
      '',
      'Archives are not delivered: ask the sender for a link.',
      '',
      '- photos.zip: rule no-archives',
    ].join('\r\n'));
    const line = await waitFor('the archive rule\'s log line', () => gw.logs.findLast((l) => l.msg === 'rules: attachments removed' && l.rule === 'no-archives'));
    assert.deepEqual(line.removed, ['photos.zip']);
  });
});

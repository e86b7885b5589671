// An attacker's MIME against the attachment rules, in a real gateway relaying to a recording smarthost: a part opened
// by a delimiter line with transport padding (`--BB  `, which RFC 2046 tells receivers to read as a delimiter and
// Python's email package does) is seen by the rules, removed by remove_attachments and refused by a reject rule; the
// message is reported as MIME_AMBIGUOUS, as is one with two Content-Type fields, and the bytes relayed are kept.
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendRaw } from './timed-send.ts';
import { message, part } from './mime-build.ts';

const EXE_BASE64 = Buffer.from('MZ\x90\x00 a program that must not pass', 'latin1').toString('base64');
const EXE = part(['Content-Type: application/octet-stream; name="setup.exe"', 'Content-Disposition: attachment; filename="setup.exe"', 'Content-Transfer-Encoding: base64'], EXE_BASE64);
const TEXT = part(['Content-Type: text/plain'], 'See the attachment.');

/** text, then setup.exe opened by `--BB` with `opening` after it; closed by `--BB--` with `closing` after it. */
const padded = (subject: string, opening = '  ', closing = '') =>
  message(subject, part(['Content-Type: multipart/mixed; boundary="BB"'], `--BB\r\n${TEXT}\r\n--BB${opening}\r\n${EXE}\r\n--BB--${closing}`));

const EXE_RULES = [
  { name: 'no-exe', when: { subject: { contains: 'reject' }, attachment: { name: '*.exe' } }, actions: [{ reject: 'No programs' }] },
  { name: 'strip-exe', when: { subject: { contains: 'strip' }, attachment: { name: '*.exe' } }, actions: ['remove_attachments'] },
];

describe('plugins/rules: delimiter padding and doubled content fields in a gateway', function () {
  this.timeout(60_000);

  describe('with on_mime_incomplete: score (the rules decide)', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', on_mime_incomplete: 'score', rules: EXE_RULES }] } }); });
    after(async () => { await gw?.stop(); });

    it('a reject rule on *.exe sees setup.exe behind a padded delimiter line, and MIME_AMBIGUOUS is noted', async () => {
      const r = await sendRaw(gw.port, padded('reject-padded'));
      assert.equal(r.code, 550, `${r.code} ${r.text}`);
      assert.match(r.text, /No programs/);
      const line = await waitFor('the structure log line', () => gw.logs.find((l) => l.msg === 'rules: MIME structure not checked in full' && l.symbol === 'MIME_AMBIGUOUS'));
      assert.match(String(line.reason), /ends in white space/);
      assert.equal(gw.sink.messages.length, 0);
    });

    it('remove_attachments takes setup.exe out from behind padded opening and closing lines; the other bytes go as sent', async () => {
      const sent = padded('strip-padded', ' \t', '  ');
      const r = await sendRaw(gw.port, sent);
      assert.equal(r.code, 250, `${r.code} ${r.text}`);
      const raw = await gw.sink.waitForText('Subject: strip-padded\r\n');
      assert.ok(!raw.includes(EXE_BASE64), 'the program is still there');
      assert.ok(raw.includes(`--BB\r\n${TEXT}\r\n--BB \t\r\n`), 'the text part and the padded line as sent');
      assert.ok(raw.includes('--BB--  \r\n'), 'the padded closing line as sent');
      const mail = await simpleParser(Buffer.from(raw, 'latin1'));
      assert.ok(!mail.attachments.some((a) => a.filename === 'setup.exe'));
      assert.match(mail.text ?? '', /setup\.exe/, 'the notice names the file');
      await waitFor('the removal log line', () => gw.logs.find((l) => l.msg === 'rules: attachments removed' && (l.removed as string[]).includes('setup.exe')));
    });
  });

  describe('by default (refused)', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: EXE_RULES }] } }); });
    after(async () => { await gw?.stop(); });

    it('refuses a message with two Content-Type fields, which mail programs read two ways (554 5.7.1, MIME_AMBIGUOUS)', async () => {
      const twice = message('two-types', ['Content-Type: text/plain', part(['Content-Type: multipart/mixed; boundary="BB"'], `--BB\r\n${TEXT}\r\n--BB\r\n${EXE}\r\n--BB--`)].join('\r\n'));
      const r = await sendRaw(gw.port, twice);
      assert.equal(r.code, 554, `${r.code} ${r.text}`);
      assert.match(r.text, /^5\.7\.1 Message refused: its MIME structure can be read more than one way \(a part has more than one content-type field\)/);
    });

    it('refuses a part with two boundary parameters and one with two Content-Transfer-Encoding fields', async () => {
      const twoBoundaries = message('two-boundaries', part(['Content-Type: multipart/mixed; boundary="AA"; boundary="BB"'], `--AA\r\n${TEXT}\r\n--AA--`));
      const b = await sendRaw(gw.port, twoBoundaries);
      assert.equal(b.code, 554, `${b.code} ${b.text}`);
      assert.match(b.text, /more than one boundary/);
      const twoEncodings = message('two-encodings', part(['Content-Type: text/plain', 'Content-Transfer-Encoding: 7bit', 'Content-Transfer-Encoding: base64'], 'aGVsbG8='));
      const e = await sendRaw(gw.port, twoEncodings);
      assert.equal(e.code, 554, `${e.code} ${e.text}`);
      assert.match(e.text, /more than one content-transfer-encoding field/);
    });

    it('relays an ordinary multipart unflagged', async () => {
      const flagged = () => gw.logs.filter((l) => l.symbol === 'MIME_AMBIGUOUS').length;
      const before = flagged();
      const plain = message('ordinary', part(['Content-Type: multipart/mixed; boundary="BB"'], `--BB\r\n${TEXT}\r\n--BB--`));
      const r = await sendRaw(gw.port, plain);
      assert.equal(r.code, 250, `${r.code} ${r.text}`);
      await gw.sink.waitForText('Subject: ordinary\r\n');
      assert.equal(flagged(), before);
    });
  });
});

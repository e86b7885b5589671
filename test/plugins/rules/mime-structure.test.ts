// The rules plugin's built-in check of the MIME structure in a real gateway, relaying to a recording smarthost: a
// message nested past what the parser walks, or deeper than max_mime_depth, is refused (554 5.7.1) by default, with a
// log line saying why; with `on_mime_incomplete: score` it gets a finding and the mime_depth / mime_incomplete
// criteria see it.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import type { SmtpReply } from '../../helpers/smtp-dialog.ts';
import { sendRaw } from './timed-send.ts';

const qidOf = (r: SmtpReply) => /queued as (\S+)/.exec(r.text)?.[1];

const EXE_PART = [
  'Content-Type: application/octet-stream; name="setup.exe"', 'Content-Disposition: attachment; filename="setup.exe"',
  'Content-Transfer-Encoding: base64', '', Buffer.from('MZ fake program').toString('base64'),
].join('\r\n');

/** A message whose setup.exe sits inside `levels` multipart/mixed parts, one in the other. */
function nestedMultipart(subject: string, levels: number): string {
  let body = EXE_PART;
  for (let i = 0; i < levels; i++) body = [`Content-Type: multipart/mixed; boundary="b${i}"`, '', `--b${i}`, body, `--b${i}--`].join('\r\n');
  return ['From: a@elsewhere.example', 'To: ann@example.com', `Subject: ${subject}`, 'MIME-Version: 1.0', body, ''].join('\r\n');
}

/** A message forwarding, as an attachment, a message forwarding … `levels` times a message with `inner` as its body part. */
function nestedForwards(subject: string, levels: number, inner = EXE_PART): string {
  let msg = ['From: a@elsewhere.example', 'Subject: the original', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="z"', '', '--z', inner, '--z--'].join('\r\n');
  for (let i = 0; i < levels; i++) {
    msg = [
      'From: a@elsewhere.example', `Subject: ${i === levels - 1 ? subject : `fwd ${i}`}`, 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="f${i}"`, '',
      `--f${i}`, 'Content-Type: text/plain', '', 'forwarded', `--f${i}`, `Content-Type: message/rfc822; name="fwd${i}.eml"`,
      `Content-Disposition: attachment; filename="fwd${i}.eml"`, '', msg, `--f${i}--`,
    ].join('\r\n');
  }
  return `${msg}\r\n`;
}

const EXE_RULE = { name: 'exe', when: { attachment: { name: '*.exe' } }, actions: [{ reject: 'Executables are not accepted' }] };

describe('plugins/rules: the MIME structure check in a gateway', function () {
  this.timeout(60_000);

  describe('by default (refused)', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [EXE_RULE] }] } }); });
    after(async () => { await gw?.stop(); });

    it('refuses an .exe inside 1,000 nested multiparts, which the parser does not walk to the end (554, logged)', async () => {
      const r = await sendRaw(gw.port, nestedMultipart('deep-1000', 1000));
      assert.equal(r.code, 554, `${r.code} ${r.text}`);
      assert.match(r.text, /^5\.7\.1 Message refused: its MIME structure could not be checked in full \(MIME parts nested deeper than 20 levels were not read\)/);
      const line = gw.logs.find((l) => l.msg === 'rules: MIME structure not checked in full' && l.symbol === 'MIME_INCOMPLETE');
      assert.ok(line, 'no log line');
      assert.equal(line.action, 'reject');
      assert.equal(line.mime_depth, 20);
      assert.equal(gw.sink.messages.length, 0);
    });

    it('refuses 30 nested forwarded messages (past the 5 the parser opens) and 18 nested multiparts (past max_mime_depth 16)', async () => {
      const forwards = await sendRaw(gw.port, nestedForwards('forwards-30', 30));
      assert.equal(forwards.code, 554, `${forwards.code} ${forwards.text}`);
      assert.match(forwards.text, /attached messages nested deeper than 5 were not read/);
      const deep = await sendRaw(gw.port, nestedMultipart('deep-18', 18));
      assert.equal(deep.code, 554, `${deep.code} ${deep.text}`);
      assert.match(deep.text, /^5\.7\.1 Message refused: its MIME parts are nested 18 levels deep, more than the 16 this gateway checks/);
      assert.ok(gw.logs.some((l) => l.msg === 'rules: MIME structure not checked in full' && l.symbol === 'MIME_TOO_DEEP' && l.mime_depth === 18));
    });

    it('refuses a forwarded message that hides 1,000 nested multiparts (the attached message could not be parsed)', async () => {
      const inner = nestedMultipart('inner', 1000).replace(/^[\s\S]*?MIME-Version: 1\.0\r\n/, '');
      const r = await sendRaw(gw.port, nestedForwards('forward-of-deep', 1, inner));
      assert.equal(r.code, 554, `${r.code} ${r.text}`);
      assert.match(r.text, /an attached message could not be parsed/);
    });

    it('sees an .exe five forwards deep (550 from the rule), and delivers 16 nested multiparts and a forward', async () => {
      const five = await sendRaw(gw.port, nestedForwards('forwards-5', 5));
      assert.equal(five.code, 550, `${five.code} ${five.text}`);
      assert.match(five.text, /Executables are not accepted/);
      const harmless = EXE_PART.replace(/setup\.exe/g, 'report.pdf');
      assert.equal((await sendRaw(gw.port, nestedMultipart('deep-16', 16).replace(/setup\.exe/g, 'report.pdf'))).code, 250);
      assert.equal((await sendRaw(gw.port, nestedForwards('forward-ok', 1, harmless))).code, 250);
      await gw.sink.waitForText('Subject: deep-16');
      await gw.sink.waitForText('Subject: forward-ok');
    });
  });

  describe('with on_mime_incomplete: score and rules on the structure', () => {
    let gw: RelayingGateway;
    before(async () => {
      gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', on_mime_incomplete: 'score', mime_incomplete_score: 4, max_mime_depth: 10, rules: [
        { name: 'unreadable', when: { mime_incomplete: true }, actions: [{ reject: { text: 'Cannot check this message', code: 552, enhanced: '5.7.0' } }] },
        { name: 'deep', when: { mime_depth: { at_least: 12, below: 20 } }, actions: [{ score: 1 }] },
      ] }] } });
    });
    after(async () => { await gw?.stop(); });

    it('scores a message over max_mime_depth (MIME_TOO_DEEP) and lets mime_depth match it; the verdict decides', async () => {
      const r = await sendRaw(gw.port, nestedMultipart('scored-12', 12).replace(/setup\.exe/g, 'report.pdf'));
      assert.equal(r.code, 250, `${r.code} ${r.text}`);
      const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === qidOf(r));
      const symbols = summary?.symbols as string[];
      assert.ok(symbols.includes('MIME_TOO_DEEP(4)') && symbols.includes('RULE_DEEP(1)'), String(symbols));
      const line = gw.logs.find((l) => l.msg === 'rules: MIME structure not checked in full' && l.qid === qidOf(r));
      assert.equal(line?.action, 'score');
      await gw.sink.waitForText('Subject: scored-12');
    });

    it('lets a rule on mime_incomplete refuse a structure the parser did not walk to its end', async () => {
      const r = await sendRaw(gw.port, nestedMultipart('unreadable', 1000));
      assert.equal(r.code, 552, `${r.code} ${r.text}`);
      assert.match(r.text, /^5\.7\.0 Cannot check this message/);
    });

    it('leaves an ordinary message alone: no finding below max_mime_depth', async () => {
      const r = await sendRaw(gw.port, nestedMultipart('shallow', 2).replace(/setup\.exe/g, 'report.pdf'));
      assert.equal(r.code, 250);
      const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === qidOf(r));
      assert.ok(!(summary?.symbols as string[]).some((s) => s.startsWith('MIME_') || s.startsWith('RULE_')), String(summary?.symbols));
    });
  });
});

// The README's attachment filter against messages built to hide an executable from it: behind many attachments,
// nested deeper than the parse reads, under a second name. Real SMTP sessions into a gateway, the example in a real
// sandbox, and a script that logs what it was shown.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import type { SmtpReply } from '../../helpers/smtp-dialog.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendOne } from '../clamav/fixtures.ts';

/** The example script of plugins/scripts/README.md, as the README shows it. */
function readmeExample(): string {
  const readme = readFileSync(path.join(import.meta.dirname, '../../../plugins/scripts/README.md'), 'utf8');
  const block = /```js\n\/\/ filters\/pills\.js\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'the README has its example');
  return block[1];
}

/** Logs what the snapshot holds, so a test can see what a script was shown. */
const REPORT = `module.exports = (m) => {
  console.log(JSON.stringify({ subject: m.subject, count: m.attachments.length, cut: m.attachmentsTruncated, incomplete: m.structureIncomplete,
    last: m.attachments.length ? m.attachments[m.attachments.length - 1] : null }));
};`;

const attachment = (name: string, type = 'text/plain', body = 'x') =>
  `Content-Type: ${type}\r\nContent-Disposition: attachment; filename="${name}"\r\n\r\n${body}\r\n`;

function multipart(subject: string, parts: string[], boundary = 'b0'): string {
  return `From: <sender@example.org>\r\nTo: <rcpt@example.com>\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n`
    + `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n`
    + parts.map((p) => `--${boundary}\r\n${p}`).join('') + `--${boundary}--\r\n`;
}

/** `n` harmless text attachments, then evil.exe if asked. */
function manyAttachments(subject: string, n: number, evil: boolean): string {
  const parts = Array.from({ length: n }, (_, i) => attachment(`note${i}.txt`));
  if (evil) parts.push(attachment('evil.exe', 'application/octet-stream', 'TVqQAAMAAAAEAAAA'));
  return multipart(subject, parts);
}

/** evil.exe in a message attached to a message … `depth` attached messages deep. */
function nested(subject: string, depth: number): string {
  let inner = multipart(`level ${depth}`, [attachment('evil.exe', 'application/octet-stream', 'TVqQAAMAAAAEAAAA')], `b${depth}`);
  for (let level = depth - 1; level >= 1; level--) {
    inner = multipart(`level ${level}`, [`Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd${level + 1}.eml"\r\n\r\n${inner}`], `b${level}`);
  }
  return multipart(subject, [`Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd1.eml"\r\n\r\n${inner}`]);
}

describe('plugins/scripts: what the README\'s attachment filter is shown', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let smarthost: Smarthost;
  let refusing: TestGateway;
  let running: TestGateway;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-incomplete-'));
    end = holdUntilExit({ dir });
    writeFileSync(path.join(dir, 'pills.js'), readmeExample());
    writeFileSync(path.join(dir, 'report.js'), REPORT);
    smarthost = await startSmarthost();
    const gateway = (options: Record<string, unknown>) => startGateway({ config: {
      smarthost: `smtp://127.0.0.1:${smarthost.port}`,
      plugins: [{ name: 'scripts', scripts: [path.join(dir, 'pills.js'), path.join(dir, 'report.js')], pool_size: 1, script_timeout: '5s', ...options }],
    } });
    refusing = await gateway({});
    running = await gateway({ on_incomplete: 'run' });
  });
  after(async () => {
    await refusing?.stop();
    await running?.stop();
    await smarthost?.stop();
    rmSync(dir, { recursive: true, force: true });
    end?.();
  });

  const send = (gw: TestGateway, message: string): Promise<SmtpReply> => sendOne(gw.port, message);

  /** What report.js logged for the message with this Subject. */
  async function shown(gw: TestGateway, subject: string): Promise<{ count: number; cut: boolean; incomplete: string | null; last: Record<string, unknown> | null }> {
    return waitFor(`report.js's line for ${subject}`, () => gw.logs
      .filter((l) => l.msg === 'filter script log' && String(l.script).endsWith('report.js'))
      .map((l) => JSON.parse(String(l.line)))
      .find((seen) => seen.subject === subject));
  }

  it('refuses evil.exe as the 201st attachment: the script is shown all of them', async () => {
    const r = await send(refusing, manyAttachments('after 200', 200, true));
    assert.equal(r.code, 550, r.text);
    assert.equal(r.text, '5.7.1 Executable attachments are not accepted');
    const seen = await send(running, manyAttachments('after 200, seen', 200, true));
    assert.equal(seen.code, 550, seen.text);
  });

  it('relays 200 harmless attachments, and the script is shown every one, none cut', async () => {
    const r = await send(running, manyAttachments('harmless 200', 200, false));
    assert.equal(r.code, 250, r.text);
    const s = await shown(running, 'harmless 200');
    assert.deepEqual({ count: s.count, cut: s.cut, incomplete: s.incomplete }, { count: 200, cut: false, incomplete: null });
    assert.deepEqual(s.last, { filename: 'note199.txt', names: ['note199.txt'], contentType: 'text/plain', size: 1, within: [] });
  });

  it('refuses evil.exe 5 attached messages deep by its name, and 6 deep as a structure not read in full', async () => {
    const five = await send(refusing, nested('five deep', 5));
    assert.equal(five.code, 550, five.text);
    const six = await send(refusing, nested('six deep', 6));
    assert.equal(six.code, 554, six.text);
    assert.equal(six.text, '5.7.1 Message refused: its MIME structure could not be checked in full (attached messages nested deeper than 5 were not read)');
    assert.ok(refusing.logs.some((l) => l.msg === 'filter scripts not run: the message could not be shown to them in full' && l.action === 'reject'));
  });

  it('with on_incomplete: run, the example itself refuses the 6-deep message on structureIncomplete', async () => {
    const r = await send(running, nested('six deep, run', 6));
    assert.equal(r.code, 550, r.text);
    assert.equal(r.text, '5.7.1 Executable attachments are not accepted');
    const s = await shown(running, 'six deep, run');
    assert.equal(s.incomplete, 'attached messages nested deeper than 5 were not read');
    assert.deepEqual(s.last, { filename: 'fwd6.eml', names: ['fwd6.eml'], contentType: 'message/rfc822', size: s.last!.size, within: ['fwd1.eml', 'fwd2.eml', 'fwd3.eml', 'fwd4.eml', 'fwd5.eml'] });
  });

  it('past 5,000 attachments: refused before the scripts by default, and by the example on attachmentsTruncated', async () => {
    const message = manyAttachments('past the cap', 5_001, false);
    const r = await send(refusing, message);
    assert.equal(r.code, 554, r.text);
    assert.match(r.text, /^5\.7\.1 Message refused: its MIME structure could not be checked in full \(more attachments or file names than a script is shown\)$/);
    const run = await send(running, manyAttachments('past the cap, run', 5_001, false));
    assert.equal(run.code, 550, run.text);
    const s = await shown(running, 'past the cap, run');
    assert.deepEqual({ count: s.count, cut: s.cut }, { count: 5_000, cut: true });
  });

  it('refuses a part that declares a harmless file name and an executable one', async () => {
    const twoNames = 'Content-Type: application/octet-stream; name="invoice.exe"\r\nContent-Disposition: attachment; filename="invoice.pdf"\r\n\r\nTVqQ\r\n';
    const r = await send(running, multipart('two names', [twoNames]));
    assert.equal(r.code, 550, r.text);
    const s = await shown(running, 'two names');
    assert.deepEqual(s.last!.names, ['invoice.pdf', 'invoice.exe']);
  });
});

// `moat check` of a message whose attachment names carry an escape sequence, a right-to-left override and an RFC 2047
// encoded word, against a real gateway whose rules take `*.exe` out: the report names each file decoded, the same in
// "attachments taken out" and in the rules' "attachments removed" line, and no character of a name reaches the
// terminal as a control: each is written as `\u001b`, `\u202e`. The JSON report holds the names themselves.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../helpers/gateway.ts';
import type { CheckReport } from '../../core/smtp/check-transaction.ts';
import { file, message, multipart, part } from '../plugins/rules/mime-build.ts';
import { moat } from './moat-cli.ts';

const PROGRAM = Buffer.from('MZ not really a program');
/** An ESC that would turn the rest of the admin's terminal red. */
const COLOURED = 'файл\x1b[31m.exe';
/** Shown as `photoexe.jpg` by a terminal that obeys the override. */
const OVERRIDDEN = 'photo\u202egpj.exe';
/** `файл` in KOI8-R, as an encoded word inside the quoted file name, as some mail programs write it. */
const ENCODED = '=?koi8-r?B?xsHKzA==?=.exe';

/** A file under an RFC 2231 name (UTF-8, percent-encoded), which may carry any character. */
const named = (name: string) => part([
  'Content-Type: application/octet-stream', `Content-Disposition: attachment; filename*=utf-8''${encodeURIComponent(name)}`,
  'Content-Transfer-Encoding: base64',
], PROGRAM.toString('base64'));

const raw = message('names to show', multipart('mixed', 'names-b', [
  part(['Content-Type: text/plain; charset=us-ascii'], 'three programs'),
  named(COLOURED),
  named(OVERRIDDEN),
  file(ENCODED, 'application/octet-stream', PROGRAM),
]), 'a@elsewhere.example', 'ann@example.com');

/** Controls and bidi characters a terminal acts on or hides. */
const UNSHOWN = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

describe('moat check: attachment names shown safely and decoded', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;

  before(async () => {
    gw = await startRelayingGateway({
      config: { plugins: [{ name: 'rules', rules: [{ name: 'strip-exe', when: { attachment: { name: '*.exe' } }, actions: [{ remove_attachments: 'all' }] }] }] },
    });
  });
  after(async () => { await gw?.stop(); });

  const check = (extra: string[] = []) => moat(['check', '--set', `data_dir=${gw.dataDir}`, '-', ...extra], raw);

  it('names each file decoded in both lines, its controls and bidi characters written as escapes', async () => {
    const r = await check();
    assert.equal(r.code, 0, r.stderr);
    const bad = UNSHOWN.exec(r.stdout);
    assert.equal(bad, null, `U+${bad?.[0].charCodeAt(0).toString(16)} reached the terminal`);
    const shown = ['файл\\u001b[31m.exe', 'photo\\u202egpj.exe', 'файл.exe'];
    assert.match(r.stdout, new RegExp(`^ {2}attachments taken out: ${esc(shown.join(', '))}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^ {2}rules\\s+info\\s+rules: attachments removed\\s+rule=strip-exe\\s+removed=${esc(shown.join(','))}$`, 'm'));
    assert.doesNotMatch(r.stdout, /=\?koi8-r\?/i, 'the encoded word is decoded');
  });

  it('keeps the names themselves in --json, escaped as JSON', async () => {
    const r = await check(['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(UNSHOWN.exec(r.stdout), null);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.deepEqual(report.rewrite?.attachmentsRemoved, [COLOURED, OVERRIDDEN, 'файл.exe']);
    const removed = report.pluginLines.find((l) => l.msg === 'rules: attachments removed');
    assert.deepEqual(removed?.fields.removed, [COLOURED, OVERRIDDEN, 'файл.exe']);
  });
});

const esc = (s: string) => s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');

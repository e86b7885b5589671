// Content edits that must not write MIME structure no check saw, in a real gateway (real SMTP in, a recording
// smarthost out, what it receives parsed with mailparser): a disclaimer re-encoding a quoted-printable part that
// hides "=2D-boundary", a disclaimer or notice whose own text reads as a delimiter line, a file name with line breaks
// in the notice, a field name inside another field's value, and a "--boundary" line before a multipart's own body.
import assert from 'node:assert/strict';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { PROGRAM } from '../../core/message/zip-builder.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendRaw } from './timed-send.ts';
import { file, message, multipart, part } from './mime-build.ts';

const TEXT = part(['Content-Type: text/plain; charset=us-ascii'], 'see attached');
/** Delimiter lines of `boundary` in `raw`, the closing one included. */
const delimiters = (raw: string, boundary: string) => raw.split('\r\n').filter((l) => l === `--${boundary}` || l === `--${boundary}--`).length;

describe('plugins/rules: content edits keep the MIME structure every check saw', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', on_mime_incomplete: 'off', rules: [
      { name: 'footer', when: { subject: { contains: 'footer' } }, actions: [{ disclaimer: 'Sent from outside' }] },
      { name: 'ruler', when: { subject: { contains: 'ruler' } }, actions: [{ disclaimer: 'Example GmbH\n-----\nConfidential' }] },
      { name: 'umlaut', when: { subject: { contains: 'umlaut' } }, actions: [{ disclaimer: 'Vertraulich – für Sie' }] },
      { name: 'strip-all', when: { subject: { contains: 'stripall' } }, actions: [{ remove_attachments: 'all' }] },
      { name: 'no-programs', when: { subject: { contains: 'noexe' }, attachment: { name: '*.exe' } }, actions: ['remove_attachments'] },
      {
        name: 'ruled-notice', when: { subject: { contains: 'rulednotice' } },
        actions: [{ remove_attachments: { all: true, notice: 'Removed by the gateway\n-----' } }],
      },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  async function relay(subject: string, body: string): Promise<{ raw: string; mail: ParsedMail }> {
    const r = await sendRaw(gw.port, message(subject, body));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const raw = await gw.sink.waitForText(`Subject: ${subject}\r\n`);
    return { raw, mail: await simpleParser(Buffer.from(raw, 'latin1')) };
  }

  const logOf = (msg: string, rule: string) => waitFor(`a "${msg}" line of ${rule}`, () => gw.logs.findLast((l) => l.msg === msg && l.rule === rule));

  it('a disclaimer on a quoted-printable part holding "=2D-B" keeps it encoded: no program part appears', async () => {
    const hidden = ['hello', '=2D-qb', 'Content-Type: application/x-msdownload; name=3De.exe', 'Content-Transfer-Encoding: base64', '', PROGRAM.toString('base64')].join('\r\n');
    const { raw, mail } = await relay('footer-qp', multipart('mixed', 'qb', [
      part(['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: quoted-printable'], hidden),
    ]));
    assert.deepEqual(mail.attachments, []);
    assert.match(mail.text!, /^hello\n--qb\nContent-Type: application\/x-msdownload; name=e\.exe\n[^]*\n\nSent from outside\n?$/);
    assert.equal(delimiters(raw, 'qb'), 2, 'the opening and the closing delimiter only');
    assert.match(raw, /^=2D-qb\r$/m);
    assert.ok((await logOf('rules: disclaimer added', 'footer')).parts);
  });

  it('a disclaimer whose line reads as the message\'s delimiter is dropped, and the message goes as it came', async () => {
    // "-----" is "--" and the boundary "---": in a 7-bit part the disclaimer would end the part there.
    const body = multipart('mixed', '---', [part(['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit'], 'hello')]);
    const { raw, mail } = await relay('ruler-1', body);
    const line = await logOf('rules: disclaimer dropped, the edited message would read as other parts', 'ruler');
    assert.match(String(line.reason), /reads as 2 parts, not 1/);
    assert.ok(raw.includes(body), 'the body as sent');
    assert.equal(mail.text, 'hello');
    assert.deepEqual(mail.attachments, []);
  });

  it('a file name with line breaks is one line of the notice: no delimiter or part comes from it', async () => {
    const name = "filename*=utf-8''a.zip%0D%0A--fb%0D%0AContent-Type:%20application/x-msdownload%0D%0A%0D%0AMZ%E2%80%A8x%C2%85y";
    const zip = part(['Content-Type: application/zip', `Content-Disposition: attachment; ${name}`, 'Content-Transfer-Encoding: base64'], 'UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==');
    const { raw, mail } = await relay('stripall-1', multipart('mixed', 'fb', [TEXT, zip]));
    assert.deepEqual(mail.attachments, []);
    assert.equal(delimiters(raw, 'fb'), 3, 'the text, the notice and the closing delimiter');
    assert.match(mail.text!, /^- a\.zip {2}--fb {2}Content-Type: application\/x-msdownload {4}MZ x y: rule strip-all$/m);
  });

  it('a notice whose line reads as the message\'s delimiter holds the message in the quarantine', async () => {
    const r = await sendRaw(gw.port, message('rulednotice-1', multipart('mixed', '---', [TEXT, file('a.pdf', 'application/pdf', Buffer.from('%PDF-1.4\n'))])));
    assert.equal(r.code, 250);
    const qid = /queued as (\S+)/.exec(r.text)![1];
    const line = await logOf('rules: attachments could not be removed safely, message quarantined', 'ruled-notice');
    assert.match(String(line.reason), /not the kept parts and the notice: it reads as 3 parts, not 2/);
    const held = await waitFor('the quarantined message', () => gw.gateway.runtime.queue.load(qid, 'quarantine'));
    assert.match(String(held.verdict?.reason), /attachments could not be removed safely/);
    assert.ok(!gw.sink.messages.some((m) => m.raw.toString('latin1').includes('Subject: rulednotice-1')));
  });

  it('a content field named inside another field\'s value is not the one rewritten', async () => {
    const { raw, mail } = await relay('umlaut-1\r\nX-A: xContent-Transfer-Encoding: 7bit\r\nX-B: b', part(
      ['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit'], 'hello',
    ));
    assert.match(raw, /^X-A: xContent-Transfer-Encoding: 7bit\r\nX-B: b\r$/m);
    assert.deepEqual(raw.match(/^Content-Transfer-Encoding: [^\r\n]*/gm), ['Content-Transfer-Encoding: quoted-printable']);
    assert.equal(mail.text, 'hello\n\nVertraulich – für Sie\n');
  });

  it('a "--B" line in an earlier part is not a part of multipart B: B keeps the notice and stays valid', async () => {
    const decoy = part(['Content-Type: text/plain; charset=us-ascii'], 'quoting:\r\n--ib\r\nend');
    const { raw, mail } = await relay('noexe-1', multipart('mixed', 'ob', [
      file('a.exe', 'application/octet-stream', PROGRAM), decoy, multipart('mixed', 'ib', [file('b.exe', 'application/octet-stream', PROGRAM)]),
    ]));
    assert.deepEqual(mail.attachments, []);
    assert.equal(delimiters(raw.slice(raw.indexOf('boundary="ib"')), 'ib'), 2, 'B keeps one part, then closes');
    assert.match(raw, /--ib\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
    assert.equal((mail.text!.match(/- b\.exe: rule no-programs/g) ?? []).length, 2, 'the notice in both places');
  });

  it('a sibling multipart under the same boundary is not this one: its parts do not count', async () => {
    const { raw, mail } = await relay('noexe-2', multipart('mixed', 'ob2', [
      file('a.exe', 'application/octet-stream', PROGRAM),
      multipart('mixed', 'same', [TEXT]),
      multipart('mixed', 'same', [file('b.exe', 'application/octet-stream', PROGRAM)]),
    ]));
    assert.deepEqual(mail.attachments, []);
    const second = raw.slice(raw.lastIndexOf('boundary="same"'));
    assert.equal(delimiters(second, 'same'), 2, 'the second multipart keeps the notice, then closes');
  });
});

// remove_attachments in a real gateway: real SMTP in, a recording smarthost out, what it receives parsed with
// mailparser. The matched attachments go, by name, by what their bytes are, inside a ZIP or a forwarded message
// (which go whole); the other parts arrive byte for byte, with one notice naming what was removed; a removal that
// cannot be done safely holds the message in the quarantine. Then the load-time checks of both content actions.
import assert from 'node:assert/strict';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { Issue } from '../../../core/index.ts';
import { configSchema } from '../../../plugins/rules/config.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { PROGRAM, buildZip } from '../../core/message/zip-builder.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendRaw } from './timed-send.ts';
import { file, message, multipart, part } from './mime-build.ts';

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');

const TEXT = part(['Content-Type: text/plain; charset=us-ascii'], 'see attached');

describe('plugins/rules: remove_attachments in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', on_mime_incomplete: 'off', rules: [
      {
        name: 'no-programs', description: 'programs are not accepted by mail',
        when: { subject: { contains: 'noexe' }, any: [{ attachment: { name: ['*.exe', '*.scr'] } }, { attachment: { type: 'application/x-dosexec' } }] },
        actions: [{ remove_attachments: { notice: 'Programs sent to you were taken out.' } }, { add_header: { name: 'X-Stripped', value: 'yes' } }],
      },
      { name: 'text-only', when: { subject: { contains: 'noattach' } }, actions: [{ remove_attachments: 'all' }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  async function relayed(subject: string): Promise<{ raw: string; mail: ParsedMail }> {
    const raw = await gw.sink.waitForText(`Subject: ${subject}\r\n`);
    return { raw, mail: await simpleParser(Buffer.from(raw, 'latin1')) };
  }

  const logOf = (msg: string, rule: string) => waitFor(`a "${msg}" line of ${rule}`, () => gw.logs.findLast((l) => l.msg === msg && l.rule === rule));

  it('takes out an .exe, keeps the text and the PDF byte for byte, and says in a notice what went and why', async () => {
    const pdf = file('report.pdf', 'application/pdf', PDF);
    const r = await sendRaw(gw.port, message('noexe-1', multipart('mixed', 'b1', [TEXT, pdf, file('setup.exe', 'application/octet-stream', PROGRAM)])));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const { raw, mail } = await relayed('noexe-1');
    assert.ok(raw.includes(`--b1\r\n${TEXT}\r\n--b1\r\n`), 'the text part as sent');
    assert.ok(raw.includes(`\r\n--b1\r\n${pdf}\r\n--b1\r\n`), 'the PDF part as sent');
    assert.doesNotMatch(raw, /setup\.exe"/);
    assert.deepEqual(mail.attachments.map((a) => a.filename), ['report.pdf']);
    assert.ok(mail.attachments[0].content.equals(PDF));
    assert.match(mail.text!, /^see attached\n/);
    assert.match(mail.text!, /Programs sent to you were taken out\.\n\n- setup\.exe: programs are not accepted by mail/);
    assert.equal(mail.headers.get('x-stripped'), 'yes');
    assert.deepEqual((await logOf('rules: attachments removed', 'no-programs')).removed, ['setup.exe']);
  });

  it('takes out a program sent as a PDF (by its bytes), and a ZIP or a forwarded message with an .exe in it, whole', async () => {
    const inner = message('the original', multipart('mixed', 'in-b', [TEXT, file('inner.exe', 'application/octet-stream', PROGRAM)]));
    const forwarded = part(['Content-Type: message/rfc822; name="fwd.eml"', 'Content-Disposition: attachment; filename="fwd.eml"'], inner.replace(/\r\n$/, ''));
    const kept = file('notes.pdf', 'application/pdf', PDF);
    const r = await sendRaw(gw.port, message('noexe-2', multipart('mixed', 'b2', [
      TEXT, file('invoice.pdf', 'application/pdf', PROGRAM), kept,
      file('docs.zip', 'application/zip', buildZip([{ name: 'readme.txt', data: Buffer.from('hi') }, { name: 'tools/setup.exe', data: PROGRAM }])),
      forwarded,
    ])));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const { raw, mail } = await relayed('noexe-2');
    assert.deepEqual(mail.attachments.map((a) => a.filename), ['notes.pdf']);
    assert.ok(raw.includes(`\r\n--b2\r\n${kept}\r\n--b2--\r\n`), "the PDF kept as sent, then the multipart closed");
    assert.doesNotMatch(raw, /filename="inner\.exe"|Subject: the original/);
    assert.match(mail.text!, /- invoice\.pdf: programs/);
    assert.match(mail.text!, /- docs\.zip \(it held docs\.zip \/ tools\/setup\.exe\): programs/);
    assert.match(mail.text!, /- fwd\.eml \(it held fwd\.eml \/ inner\.exe\): programs/);
  });

  it('leaves a valid multipart where every part of it was removed', async () => {
    const r = await sendRaw(gw.port, message('noexe-3', multipart('mixed', 'b3', [
      TEXT, multipart('mixed', 'b3-inner', [file('a.exe', 'application/octet-stream', PROGRAM), file('b.scr', 'application/octet-stream', PROGRAM)]),
    ])));
    assert.equal(r.code, 250);
    const { raw, mail } = await relayed('noexe-3');
    assert.equal(mail.attachments.length, 0);
    assert.match(mail.text!, /- a\.exe: programs.*\n- b\.scr: programs/s);
    // The inner multipart keeps one part, the notice, then closes.
    assert.match(raw, /--b3-inner\r\nContent-Type: text\/plain; charset=utf-8\r\n[^]*?\r\n--b3-inner--\r\n/);
    assert.equal(raw.match(/^--b3-inner\r$/gm)?.length, 1);
  });

  it('with all: every attachment goes, inline pictures included; both texts of an alternative stay', async () => {
    const html = part(['Content-Type: text/html; charset=us-ascii'], '<html><body><p>hello <img src="cid:logo"></p></body></html>');
    const logo = part(['Content-Type: image/png; name="logo.png"', 'Content-ID: <logo>', 'Content-Transfer-Encoding: base64'], Buffer.from('\x89PNG\r\n\x1a\n', 'latin1').toString('base64'));
    const r = await sendRaw(gw.port, message('noattach-1', multipart('mixed', 'm', [
      multipart('alternative', 'alt', [TEXT, multipart('related', 'rel', [html, logo])]), file('report.pdf', 'application/pdf', PDF),
    ])));
    assert.equal(r.code, 250);
    const { raw, mail } = await relayed('noattach-1');
    assert.equal(mail.attachments.length, 0);
    assert.ok(raw.includes(`--alt\r\n${TEXT}\r\n`));
    assert.ok(raw.includes(`--rel\r\n${html}\r\n`));
    assert.match(mail.text!, /The mail gateway removed attachments from this message:/);
    assert.deepEqual((await logOf('rules: attachments removed', 'text-only')).removed, ['logo.png', 'report.pdf']);
  });

  it('a single-part message that is the attachment becomes the notice, its own header fields kept', async () => {
    const r = await sendRaw(gw.port, message('noexe-4', file('setup.exe', 'application/octet-stream', PROGRAM)));
    assert.equal(r.code, 250);
    const { raw, mail } = await relayed('noexe-4');
    assert.equal(mail.attachments.length, 0);
    assert.match(raw, /^From: a@elsewhere\.example\r$/m);
    assert.match(mail.text!, /- setup\.exe: programs/);
    assert.doesNotMatch(raw, /Content-Disposition: attachment/);
  });

  it('holds the message in the quarantine when the part cannot be found to take out (MIME nested past the part reader)', async () => {
    let body = file('deep.exe', 'application/octet-stream', PROGRAM);
    for (let i = 0; i < 24; i++) body = multipart('mixed', `deep-${i}`, [body]);
    const r = await sendRaw(gw.port, message('noexe-5', multipart('mixed', 'top', [TEXT, body])));
    assert.equal(r.code, 250);
    const qid = /queued as (\S+)/.exec(r.text)![1];
    const line = await logOf('rules: attachments could not be removed safely, message quarantined', 'no-programs');
    assert.match(String(line.reason), /deep\.exe could not be taken out/);
    const held = await waitFor('the quarantined message', () => gw.gateway.runtime.queue.load(qid, 'quarantine'));
    assert.match(String(held.verdict?.reason), /rule no-programs: attachments could not be removed safely/);
    assert.ok(!gw.sink.messages.some((m) => m.raw.toString('latin1').includes('Subject: noexe-5')));
  });
});

describe('plugins/rules: validation of remove_attachments and disclaimer', () => {
  const issuesOf = (rules: unknown[]) => {
    const issues: Issue[] = [];
    configSchema.parse({ rules }, 'plugins[0]', issues);
    return issues.map((i) => `${i.path}: ${i.message}`);
  };

  it('accepts the forms the README gives', () => {
    assert.deepEqual(issuesOf([
      { name: 'a', when: { attachment: { name: '*.exe' } }, actions: ['remove_attachments'] },
      { name: 'b', actions: [{ remove_attachments: 'all' }, 'accept'] },
      { name: 'c', when: { any: [{ attachment: { type: 'application/x-dosexec' } }, { size: { over: '5MB' } }] }, actions: [{ remove_attachments: { notice: 'Removed.' } }] },
      { name: 'd', when: { authenticated: true }, actions: [{ disclaimer: 'Confidential.' }] },
      { name: 'e', actions: [{ disclaimer: { text: 'Vertraulich', html: '<p><b>Vertraulich</b></p>', position: 'top' } }, 'quarantine'] },
    ]), []);
  });

  it('refuses a removal with nothing to say which attachments, an edit of mail not delivered, and bad values', () => {
    const got = issuesOf([
      { name: 'none', when: { subject: 'x' }, actions: ['remove_attachments'] },
      { name: 'negated', when: { not: { attachment: { name: '*.pdf' } } }, actions: ['remove_attachments'] },
      { name: 'refused', when: { attachment: { name: '*.exe' } }, actions: ['remove_attachments', 'reject'] },
      { name: 'dropped', actions: [{ disclaimer: 'x' }, 'discard'] },
      { name: 'bad-forms', actions: [{ remove_attachments: 'some' }, { disclaimer: { text: 'x', position: 'bottom' } }] },
      { name: 'empty', actions: [{ disclaimer: '  ' }, { remove_attachments: { all: true, notice: '' } }] },
    ]);
    const at = (rule: string) => got.filter((g) => g.includes(`(name "${rule}")`)).join(' | ');
    assert.match(at('none'), /actions: remove_attachments removes the attachments the rule's attachment criteria match, and this rule has none/);
    assert.match(at('negated'), /this rule has none \(outside a `not`\)/);
    assert.match(at('refused'), /remove_attachments with reject changes nothing/);
    assert.match(at('dropped'), /disclaimer with discard changes nothing/);
    assert.match(at('bad-forms'), /actions\[0\]\.remove_attachments: expected nothing .* all, or a mapping/);
    assert.match(at('bad-forms'), /actions\[1\]\.disclaimer\.position: expected end or top/);
    assert.match(at('empty'), /actions\[0\]\.disclaimer: expected a non-empty text/);
    assert.match(at('empty'), /actions\[1\]\.remove_attachments\.notice: expected a non-empty text/);
  });
});

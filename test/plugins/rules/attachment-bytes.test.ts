// Attachments judged by their bytes in a real gateway: a program under a PDF's name and type, an .exe inside a ZIP
// (also one stored in a ZIP, and one past the parsed view's content budget), a ZIP posing as a .docx, a harmless ZIP,
// a cut-short, lying or encrypted one, and the attachment size criterion. Real SMTP in, a recording smarthost out.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { PROGRAM, buildZip } from '../../core/message/zip-builder.ts';
import { MAX_CANDIDATES } from '../../../core/message/zip-listing.ts';
import { sendRaw } from './timed-send.ts';

/** A multipart/mixed message with a text part and the given attachments, each sent in base64. */
function mixed(subject: string, files: Array<{ name: string; type: string; data: Buffer }>): string {
  const b = 'att-bytes-b';
  const parts = files.flatMap((f) => [
    `--${b}`, `Content-Type: ${f.type}; name="${f.name}"`, `Content-Disposition: attachment; filename="${f.name}"`, 'Content-Transfer-Encoding: base64', '',
    ...(f.data.toString('base64').match(/.{1,76}/g) ?? []),
  ]);
  return [
    'From: a@elsewhere.example', 'To: ann@example.com', `Subject: ${subject}`, 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${b}"`, '',
    `--${b}`, 'Content-Type: text/plain', '', 'see attached', ...parts, `--${b}--`, '',
  ].join('\r\n');
}

const REPORT = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');
const zipType = 'application/zip';

describe('plugins/rules: attachments judged by their bytes, in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      { name: 'archive-as-document', when: { attachment: { type: zipType, name: '*.docx' } }, actions: [{ reject: 'An archive sent as a document' }] },
      { name: 'programs', when: { attachment: { type: ['application/x-dosexec', 'application/x-executable'] } }, actions: [{ reject: 'Programs are not accepted' }] },
      { name: 'exe-names', when: { attachment: { name: ['*.exe', '*.scr'] } }, actions: [{ reject: 'Executable attachments are not accepted' }] },
      { name: 'unreadable', when: { attachment: { detected_type: 'application/x-unreadable-archive' } }, actions: [{ quarantine: 'archive not readable' }] },
      { name: 'locked', when: { attachment: { detected_type: 'application/x-encrypted-archive' } }, actions: [{ score: 4 }] },
      { name: 'huge', when: { attachment: { size: { over: '1MB' } } }, actions: [{ tag_subject: '[LARGE]' }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  const replyTo = async (subject: string, files: Parameters<typeof mixed>[1]) => sendRaw(gw.port, mixed(subject, files));
  const summaryOf = (text: string) => {
    const qid = /queued as (\S+)/.exec(text)?.[1];
    return gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
  };

  it('refuses a Windows program named report.pdf and declared application/pdf; a real PDF passes', async () => {
    const r = await replyTo('pe-as-pdf', [{ name: 'report.pdf', type: 'application/pdf', data: PROGRAM }]);
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /Programs are not accepted/);
    const ok = await replyTo('real-pdf', [{ name: 'report.pdf', type: 'application/pdf', data: REPORT }]);
    assert.equal(ok.code, 250, `${ok.code} ${ok.text}`);
    await gw.sink.waitForText('Subject: real-pdf');
  });

  it('refuses an .exe inside a ZIP, inside a ZIP stored in a ZIP, and behind a self-extractor\'s bytes', async () => {
    const docs = buildZip([{ name: 'readme.txt', data: Buffer.from('hello') }, { name: 'tools/setup.exe', data: PROGRAM, deflate: true }]);
    for (const [label, data] of [
      ['zip', docs],
      ['zip-in-zip', buildZip([{ name: 'docs.zip', data: docs }])],
      ['prefixed', Buffer.concat([Buffer.from('junk before the archive '), docs])],
    ] as const) {
      const r = await replyTo(`exe-in-${label}`, [{ name: 'docs.zip', type: zipType, data }]);
      assert.equal(r.code, 550, `${label}: ${r.code} ${r.text}`);
      assert.match(r.text, /Executable attachments are not accepted/, label);
    }
  });

  it('takes a ZIP posing as a Word document (an empty [Content_Types].xml, a word/x) for the archive it is; a real .docx passes', async () => {
    const docx = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
    const posing = buildZip([{ name: '[Content_Types].xml' }, { name: 'word/x', data: Buffer.from('<x/>') }, { name: 'invoice.exe', data: PROGRAM }]);
    const r = await replyTo('zip-as-docx', [{ name: 'invoice.docx', type: docx, data: posing }]);
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /An archive sent as a document/, 'the rule on application/zip, not only the one on names');
    const real = buildZip(['[Content_Types].xml', '_rels/.rels', 'word/document.xml', 'word/_rels/document.xml.rels'].map((name) => ({ name, data: Buffer.from('<x/>'), deflate: true })));
    const ok = await replyTo('real-docx', [{ name: 'report.docx', type: docx, data: real }]);
    assert.equal(ok.code, 250, `${ok.code} ${ok.text}`);
    await gw.sink.waitForText('Subject: real-docx');
  });

  it('passes a ZIP of harmless files', async () => {
    const zip = buildZip([{ name: 'minutes.txt', data: Buffer.from('we met\n'.repeat(50)), deflate: true }, { name: 'report.pdf', data: REPORT }]);
    const r = await replyTo('harmless-zip', [{ name: 'minutes.zip', type: zipType, data: zip }]);
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    assert.equal(summaryOf(r.text)?.verdict, 'accept');
    await gw.sink.waitForText('Subject: harmless-zip');
  });

  it('a cut-short or lying ZIP is quarantined as unreadable (the gateway answers, and goes on answering); an encrypted one is scored', async () => {
    const whole = buildZip([{ name: 'a.txt', data: Buffer.from('x'.repeat(400)) }, { name: 'b.txt', data: Buffer.from('y'.repeat(400)) }]);
    const cases: Array<[string, Buffer]> = [
      ['truncated', whole.subarray(0, whole.length - 60)],
      ['false-count', buildZip([{ name: 'a.txt' }, { name: 'b.txt' }], { statedCount: 60_000 })],
      ['only-a-signature', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(2000, 0xee)])],
      // Behind other bytes, its own end record behind more false ones in its comment than the reader tries.
      ['false-end-records', buildZip([{ name: 'setup.exe', data: PROGRAM }], { prefix: Buffer.from('junk '), comment: `PK\x05\x06${'\0'.repeat(18)}`.repeat(MAX_CANDIDATES) })],
    ];
    for (const [label, data] of cases) {
      const r = await replyTo(`hostile-${label}`, [{ name: 'files.zip', type: zipType, data }]);
      assert.equal(r.code, 250, `${label}: ${r.code} ${r.text}`);
      const line = summaryOf(r.text);
      assert.equal(line?.verdict, 'quarantine', label);
      assert.match(String(line?.reason), /rule unreadable: archive not readable/, label);
    }
    const locked = buildZip([{ name: 'invoice.txt', data: Buffer.from('pay'), flags: 0x1 }]);
    const r = await replyTo('encrypted-zip', [{ name: 'invoice.zip', type: zipType, data: locked }]);
    assert.equal(r.code, 250);
    assert.ok((summaryOf(r.text)?.symbols as string[]).includes('RULE_LOCKED(4)'));
  });

  it('reads a ZIP the parsed view does not keep (past its 10 MB of content) from its start and end as it streams', async () => {
    // Kept whole, it leaves the view room for less than the archive, which then is only streamed.
    const padding = Buffer.alloc(9.5 * 1024 * 1024, 0x20);
    const docs = buildZip([{ name: 'setup.exe', data: PROGRAM, deflate: true }, { name: 'filler.bin', data: Buffer.alloc(2 * 1024 * 1024, 7) }]);
    const r = await replyTo('exe-in-zip-past-budget', [{ name: 'video.mp4', type: 'video/mp4', data: padding }, { name: 'docs.zip', type: zipType, data: docs }]);
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /Executable attachments are not accepted/);
  });

  it('size: matches an attachment by its decoded size', async () => {
    const r = await replyTo('size-1', [{ name: 'scan.png', type: 'image/png', data: Buffer.alloc(1536 * 1024, 1) }]);
    assert.equal(r.code, 250);
    assert.match(await gw.sink.waitForText('size-1'), /^Subject: \[LARGE\] size-1\r$/m);
    const small = await replyTo('size-2', [{ name: 'scan.png', type: 'image/png', data: Buffer.alloc(900 * 1024, 1) }]);
    assert.equal(small.code, 250);
    assert.match(await gw.sink.waitForText('size-2'), /^Subject: size-2\r$/m);
  });
});

// The attachment criterion in a real gateway: attachments inside a forwarded message, names Windows saves without
// their trailing dots and spaces, and the Content-Type the part declared.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { sendRaw } from './timed-send.ts';

/** A multipart/mixed message with a text part and the given parts (each its header lines, a blank line, its body). */
function mixed(subject: string, parts: string[], boundary = 'outer-b'): string {
  return [
    'From: a@elsewhere.example', 'To: ann@example.com', `Subject: ${subject}`, 'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`, '', `--${boundary}`, 'Content-Type: text/plain', '', 'see attached',
    ...parts.flatMap((p) => [`--${boundary}`, p]), `--${boundary}--`, '',
  ].join('\r\n');
}

const file = (name: string, type = 'application/octet-stream') => [
  `Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '',
  Buffer.from('MZ fake program').toString('base64'),
].join('\r\n');

/** `inner` attached as a message/rfc822 part named `name`. */
const forwarded = (name: string, inner: string, disposition = 'attachment') =>
  [`Content-Type: message/rfc822; name="${name}"`, `Content-Disposition: ${disposition}; filename="${name}"`, '', inner.replace(/\r\n$/, '')].join('\r\n');

describe('plugins/rules: the attachment criterion in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      { name: 'exe', when: { attachment: { name: '*.exe' } }, actions: [{ reject: 'Executables are not accepted' }] },
      { name: 'octet', when: { attachment: { type: 'application/octet-stream', name: '*.txt' } }, actions: [{ score: 3 }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  it('rejects an .exe inside a forwarded message (message/rfc822 attachment)', async () => {
    const inner = mixed('the original', [file('inner.exe')], 'inner-b');
    const r = await sendRaw(gw.port, mixed('fwd-1', [forwarded('fwd.eml', inner)]));
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /Executables are not accepted/);
  });

  it('rejects an .exe two forwards deep, and an .exe inside an inline message/rfc822 part', async () => {
    const deepest = mixed('deepest', [file('deep.exe')], 'b3');
    const middle = mixed('middle', [forwarded('middle.eml', deepest)], 'b2');
    assert.equal((await sendRaw(gw.port, mixed('fwd-2', [forwarded('outer.eml', middle)]))).code, 550);
    const inline = mixed('fwd-3', [forwarded('inline.eml', mixed('original', [file('inline.exe')], 'b4'), 'inline')]);
    assert.equal((await sendRaw(gw.port, inline)).code, 550);
  });

  it('passes a forwarded message with harmless attachments', async () => {
    const inner = mixed('the original', [file('report.pdf', 'application/pdf')], 'inner-b');
    const r = await sendRaw(gw.port, mixed('fwd-ok', [forwarded('fwd.eml', inner)]));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
  });

  it('matches names with the trailing dots and spaces Windows drops when saving', async () => {
    for (const name of ['setup.exe.', 'setup.exe ', 'setup.exe. . ']) {
      const r = await sendRaw(gw.port, mixed(`trail ${JSON.stringify(name)}`, [file(name)]));
      assert.equal(r.code, 550, `${JSON.stringify(name)}: ${r.code} ${r.text}`);
    }
  });

  it('judges every file name a part declares: two filename parameters, or name and filename that differ', async () => {
    const declaring = (type: string, disposition: string) => [
      `Content-Type: ${type}`, `Content-Disposition: ${disposition}`, 'Content-Transfer-Encoding: base64', '',
      Buffer.from('MZ fake program').toString('base64'),
    ].join('\r\n');
    const cases = [
      ['application/octet-stream', 'attachment; filename="readme.txt"; filename="setup.exe"'],
      ['application/octet-stream; name="setup.exe"', 'attachment; filename="readme.txt"'],
      ['application/octet-stream; name="readme.txt"; name="setup.exe"', 'attachment'],
      ['application/octet-stream', 'attachment; filename*=utf-8\'\'readme.txt; filename="setup.exe"'],
      ['application/octet-stream', 'attachment; filename="readme.txt"; filename*0="setup"; filename*1=".exe"'],
    ];
    for (const [i, [type, disposition]] of cases.entries()) {
      const r = await sendRaw(gw.port, mixed(`two-names-${i}`, [declaring(type, disposition)]));
      assert.equal(r.code, 550, `${type} / ${disposition}: ${r.code} ${r.text}`);
    }
    const harmless = await sendRaw(gw.port, mixed('two-harmless-names', [declaring('application/pdf; name="a.pdf"', 'attachment; filename="b.pdf"; filename="c.pdf"')]));
    assert.equal(harmless.code, 250, `${harmless.code} ${harmless.text}`);
    await gw.sink.waitForText('Subject: two-harmless-names');
  });

  it('matches the type the part declared, not only the one guessed from its name', async () => {
    const r = await sendRaw(gw.port, mixed('declared-type', [file('readme.txt')]));
    assert.equal(r.code, 250);
    const qid = /queued as (\S+)/.exec(r.text)?.[1];
    const line = gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
    assert.ok((line?.symbols as string[]).includes('RULE_OCTET(3)'), String(line?.symbols));
  });
});

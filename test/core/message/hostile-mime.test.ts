// Messages made to make the MIME parse work without end: the parsed view's readers stop at their limits and say so
// in the structure (MIME_INCOMPLETE to the rules), read every section of a file name, and decode quoted-printable to
// the bytes mailparser gave, whatever the part's size or its runs of spaces.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { headerEnd } from '../../../core/message/header-block.ts';
import { walkLeaves } from '../../../core/message/mime-leaves.ts';
import { attachmentNames, MIME_PARTS_MAX, PART_HEADER_MAX_BYTES } from '../../../core/message/mime-parse.ts';
import { SpooledMessage } from '../../../core/message/spooled-message.ts';
import { MEMORY_COPY_BYTES } from '../../../core/message/spool-writer.ts';
import type { ParsedMessage } from '../../../core/message/types.ts';
import * as hostile from '../../../scripts/bench/lib/hostile-mime.ts';

const libqp = createRequire(import.meta.url)('libqp') as { decode(input: Buffer): Buffer };

describe('core/message: hostile MIME', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-hostile-mime-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The parsed view of `raw` as the gateway builds it: from memory when small, else from a spool file. */
  let files = 0;
  function parse(raw: Buffer): Promise<ParsedMessage> {
    const block = raw.subarray(0, Math.max(0, headerEnd(raw)));
    if (raw.length <= MEMORY_COPY_BYTES) return new SpooledMessage('q1', path.join(dir, 'none.eml'), raw.length, block, raw).parsed();
    const file = path.join(dir, `m${files++}.eml`);
    writeFileSync(file, raw);
    return new SpooledMessage('q1', file, raw.length, block).parsed();
  }

  it(`lists ${MIME_PARTS_MAX} parts of a message with more, and says the rest was not read`, async () => {
    const parsed = await parse(hostile.manyParts(MIME_PARTS_MAX + 5, 4));
    assert.equal(parsed.malformed, true);
    assert.equal(parsed.attachments.length, MIME_PARTS_MAX);
    assert.equal(parsed.attachments.at(-1)!.filename, `f${MIME_PARTS_MAX - 1}.dat`);
    assert.equal(parsed.structure.incomplete, `more than ${MIME_PARTS_MAX} MIME parts: the parts after those were not read`);
  });

  it(`reads a message of ${MIME_PARTS_MAX} parts whole`, async () => {
    const parsed = await parse(hostile.manyParts(MIME_PARTS_MAX, 4));
    assert.equal(parsed.attachments.length, MIME_PARTS_MAX);
    assert.equal(parsed.structure.incomplete, undefined);
  });

  it('reads the first MB of a part header section folded over 60,000 lines, and says the rest was not read', async () => {
    const parsed = await parse(hostile.hugePartHeader(hostile.foldedField(60_000, 20)));
    assert.equal(parsed.malformed, true);
    assert.deepEqual(parsed.attachments.map((a) => a.filename), ['big-header.exe']);
    assert.equal(parsed.text, 'hello');
    assert.equal(parsed.structure.incomplete, `a MIME part's header section is over ${PART_HEADER_MAX_BYTES} bytes: its fields past that were not read`);
  });

  it('reads a file name split into 100 RFC 2231 sections to its last, in mailparser\'s view and the gateway\'s reader', async () => {
    const raw = hostile.filenameSections(100);
    const whole = `setup${'x'.repeat(99)}.exe`;
    const parsed = await parse(raw);
    assert.deepEqual(parsed.attachments.map(attachmentNames), [[whole]]);
    const leaf = walkLeaves(raw.toString('latin1')).leaves[1];
    assert.equal(leaf.filename, whole);
    assert.deepEqual(leaf.names, [whole]);
  });

  it('gives a quoted-printable attachment and text the bytes mailparser decoded, in a small message and a large one', async () => {
    const qp = 'caf=C3=A9 blanks at the end  \r\nsoft=\r\nbreak, =3D and a lone = sign\r\n';
    const part = (body: string) => `--q\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.bin"\r\n`
      + `Content-Transfer-Encoding: quoted-printable\r\n\r\n${body}\r\n`;
    const text = '--q\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
      + `${qp}\r\n`;
    const small = hostile.message('Content-Type: multipart/mixed; boundary="q"\r\n', `${text}${part(qp)}--q--\r\n`);
    const parsed = await parse(small);
    assert.equal(parsed.attachments[0].content.toString('hex'), libqp.decode(Buffer.from(qp, 'latin1')).toString('hex'));
    assert.equal(parsed.text, 'café blanks at the end\nsoftbreak, = and a lone = sign\n');
    // Over 1 MB the text is the gateway's own reading; the attachment is still mailparser's.
    const body = `${'ab=\r\n'.repeat(300_000)}${' '.repeat(100_000)}x=41\r\nend`;
    const large = hostile.message('Content-Type: multipart/mixed; boundary="q"\r\n', `${text}${part(body)}--q--\r\n`);
    const big = await parse(large);
    // Not asked of libqp: a run of spaces before a letter takes it time by the square of the run.
    const want = Buffer.from(`${'ab'.repeat(300_000)}${' '.repeat(100_000)}xA\r\nend`, 'latin1');
    assert.equal(big.attachments[0].size, want.length);
    assert.ok(big.attachments[0].content.equals(want));
    assert.equal(big.structure.incomplete, undefined);
  });

  it('reads a small quoted-printable message with a run of 300,000 spaces (minutes for libqp, which mailparser uses)', async () => {
    const parsed = await parse(hostile.qpBlankRun(300_000));
    assert.equal(parsed.text, `before\n${' '.repeat(300_000)}x\nafter\n`);
  });
});

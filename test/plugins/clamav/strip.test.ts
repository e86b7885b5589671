// MIME part finding and stripping, as pure logic: a stand-in scan that flags parts containing EICAR or the marker.
import assert from 'node:assert/strict';
import { decodeLeaf, leafParts } from '../../../core/message/mime-leaves.ts';
import { noticeText, stripInfected } from '../../../plugins/clamav/strip.ts';
import type { ScanResult } from '../../../plugins/clamav/scan-result.ts';
import { EICAR, MARKER } from '../../helpers/clamd.ts';
import { cleanMessage, eicarInBody, mixedAttachments, withAttachments } from './fixtures.ts';

async function fakeScan(content: Buffer): Promise<ScanResult> {
  const text = content.toString('latin1');
  const viruses = [text.includes(EICAR) && 'Test.EICAR', text.includes(MARKER) && 'Test.Marker'].filter((v): v is string => !!v);
  return viruses.length ? { infected: true, viruses } : { infected: false };
}
const notice = (p: { viruses: string[]; filename?: string }) => noticeText('Removed {filename}: {virus}', { contentType: '', ...p });

describe('clamav MIME strip', () => {
  it('finds each leaf part of a multipart message with its decoded content and file name', () => {
    const text = mixedAttachments();
    const leaves = leafParts(text);
    assert.deepEqual(leaves.map((l) => [l.contentType, l.filename]), [
      ['text/plain', undefined], ['text/plain', 'report.txt'], ['application/octet-stream', 'eicar.com'], ['text/plain', 'notes.txt'],
    ]);
    assert.equal(decodeLeaf(text, leaves[2]).toString(), EICAR);
    assert.equal(decodeLeaf(text, leaves[0]).toString(), 'Two files attached.');
  });

  it('names a stripped part by its RFC 2231 file name, decoded as a mail client shows it', async () => {
    const raw = Buffer.from([
      'Subject: x', 'Content-Type: multipart/mixed; boundary=B', '', '--B', 'Content-Type: text/plain', '', 'hi',
      '--B', 'Content-Type: application/octet-stream', "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.com",
      'Content-Transfer-Encoding: base64', '', Buffer.from(EICAR).toString('base64'),
      '--B', 'Content-Type: application/octet-stream; name*0*=iso-8859-1\'\'fa%E7ade; name*1=".bin"', '', MARKER, '--B--', '',
    ].join('\r\n'));
    const { raw: out, removed } = await stripInfected(raw, fakeScan, notice);
    assert.deepEqual(removed.map((p) => p.filename), ['résumé.com', 'façade.bin']);
    assert.match(out.toString(), /Removed résumé\.com: Test\.EICAR/);
  });

  it('replaces only the infected attachments and keeps every other byte', async () => {
    const raw = Buffer.from(mixedAttachments());
    const { raw: out, removed } = await stripInfected(raw, fakeScan, notice);
    assert.deepEqual(removed.map((p) => [p.filename, p.viruses]), [['eicar.com', ['Test.EICAR']], ['notes.txt', ['Test.Marker']]]);
    const text = out.toString();
    assert.ok(!text.includes(Buffer.from(EICAR).toString('base64').slice(0, 76)));
    assert.match(text, /Removed eicar\.com: Test\.EICAR/);
    assert.match(text, /Removed notes\.txt: Test\.Marker/);
    assert.ok(text.includes(Buffer.from('Quarterly figures: all good.\r\n').toString('base64')), 'the clean attachment is kept');
    const firstPart = raw.indexOf('--mm-boundary-1\r\n');
    assert.ok(out.subarray(0, firstPart).equals(raw.subarray(0, firstPart)), 'headers and preamble are unchanged');
    // The result is still a well-formed multipart with four parts, and now clean.
    assert.equal(leafParts(text).length, 4);
    for (const leaf of leafParts(text)) assert.equal((await fakeScan(Buffer.from(text.slice(leaf.bodyStart, leaf.end)))).infected, false);
  });

  it('replaces the body of an infected single-part message and keeps its other headers', async () => {
    const { raw, removed } = await stripInfected(Buffer.from(eicarInBody()), fakeScan, notice);
    assert.equal(removed.length, 1);
    const text = raw.toString();
    assert.match(text, /^From: sender@example\.org\r\n/);
    assert.match(text, /\r\nSubject: eicar-body\r\n/);
    assert.match(text, /\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
    assert.match(text, /\r\n\r\nRemoved unnamed: Test\.EICAR\r\n$/);
    assert.ok(!text.includes(EICAR));
  });

  it('blames the only part of a single-part message for what the whole-message scan found, and no part of a multipart', async () => {
    const never = async (): Promise<ScanResult> => ({ infected: false });
    const single = await stripInfected(Buffer.from(eicarInBody()), never, notice, ['Whole.Scan']);
    assert.deepEqual(single.removed.map((p) => p.viruses), [['Whole.Scan']]);
    assert.match(single.raw.toString(), /Removed unnamed: Whole\.Scan\r\n$/);
    assert.equal((await stripInfected(Buffer.from(mixedAttachments()), never, notice, ['Whole.Scan'])).removed.length, 0);
  });

  it('changes nothing when no part is infected', async () => {
    const raw = Buffer.from(withAttachments('x', 'hi', [['a.txt', 'text/plain', Buffer.from('fine')]]));
    const res = await stripInfected(raw, fakeScan, notice);
    assert.equal(res.removed.length, 0);
    assert.ok(res.raw.equals(raw));
    const single = Buffer.from(cleanMessage());
    assert.ok((await stripInfected(single, fakeScan, notice)).raw.equals(single));
  });
});

describe('clamav MIME strip on messages shaped to be slow', function () {
  this.timeout(10_000);
  const head = 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n';

  it('splits 64,000 parts that have headers but no blank line, each with an empty body', function () {
    const text = head + '--b\r\nX: y\r\n'.repeat(64_000);
    const leaves = leafParts(text);
    assert.equal(leaves.length, 64_000);
    assert.ok(leaves.every((l) => l.headers.length === 1 && l.headers[0].value === 'y' && l.bodyStart === l.end));
    assert.equal(leaves.at(-1)!.end, text.length);
  });

  it('reads a 2.5 MB line of repeated boundary markers as body text, and still finds the delimiter on the next line', function () {
    const run = '--b'.repeat(850_000);
    const text = `${head}--b\r\n\r\nx\r\n${run}\r\n--b\r\n\r\ny\r\n--b--\r\n`;
    const leaves = leafParts(text);
    assert.deepEqual(leaves.map((l) => decodeLeaf(text, l).toString('latin1')), [`x\r\n${run}`, 'y']);
  });

  it('replaces 32,000 infected parts with their notices and keeps the delimiters around them', async function () {
    const count = 32_000;
    const raw = Buffer.from(head + `--b\r\nContent-Type: application/octet-stream\r\n\r\n${EICAR}\r\n`.repeat(count) + '--b--\r\n');
    const { raw: out, removed } = await stripInfected(raw, fakeScan, notice);
    assert.equal(removed.length, count);
    const noticePart = 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nContent-Disposition: inline\r\n\r\nRemoved unnamed: Test.EICAR';
    assert.equal(out.toString('latin1'), head + `--b\r\n${noticePart}\r\n`.repeat(count) + '--b--\r\n');
  });
});

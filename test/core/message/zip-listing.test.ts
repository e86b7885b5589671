// The ZIP directory reader: archives from a real zip program and built byte by byte, archives stored in archives, and
// hostile ones (cut short, false counts, offsets pointing anywhere, false end records, more entries than the budget),
// which must be listed as far as they can be and said to be unreadable, never taken as empty.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { wholeSource, windowSource } from '../../../core/message/byte-source.ts';
import { ContentSniffer, contentFacts, ARCHIVE_TAIL_BYTES } from '../../../core/message/content-sniffer.ts';
import { ARCHIVE_MAX_ENTRIES, MAX_CANDIDATES, listZip, newListingBudget, type ArchiveListing } from '../../../core/message/zip-listing.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { PROGRAM, buildZip, type ZipEntryInput } from './zip-builder.ts';

const list = (zip: Buffer, budget = newListingBudget()) => listZip(wholeSource(zip), budget, zip.readUInt32LE(0) === 0x04034b50);
const names = (l: ArchiveListing | undefined) => l?.entries.map((e) => e.names.join('|'));

describe('core/message/zip-listing', function () {
  this.timeout(30_000);

  it('lists an archive a real zip program made: names, sizes, folders left out, ZIP64 and encryption seen', () => {
    ensureCommands({ zip: 'zip' });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-zip-'));
    try {
      writeFileSync(path.join(dir, 'report.txt'), 'quarterly figures\n'.repeat(100));
      execFileSync('sh', ['-c', 'mkdir tools && printf "MZ program" > tools/setup.exe'], { cwd: dir });
      const zip = (args: string[]) => { execFileSync('zip', ['-q', ...args], { cwd: dir }); return readFileSync(path.join(dir, args.find((a) => a.endsWith('.zip'))!)); };
      for (const [label, archive] of [['plain', zip(['-r', 'plain.zip', 'report.txt', 'tools'])], ['zip64', zip(['-r', '-fz', 'z64.zip', 'report.txt', 'tools'])]] as const) {
        const l = list(archive);
        assert.deepEqual(names(l), ['report.txt', 'tools/setup.exe'], label);
        assert.deepEqual(l!.entries.map((e) => e.size), [1800, 10], label);
        assert.equal(l!.unreadable, undefined, label);
        assert.equal(l!.encrypted, false, label);
      }
      const locked = list(zip(['-P', 'secret', 'locked.zip', 'report.txt']));
      assert.deepEqual(names(locked), ['report.txt']);
      assert.equal(locked!.encrypted, true);
      // zip stores a .zip without compressing it (its -n default): the inner one is listed too.
      const outer = list(zip(['outer.zip', 'plain.zip']));
      assert.deepEqual(names(outer), ['plain.zip', 'report.txt', 'tools/setup.exe']);
      assert.deepEqual(outer!.entries[2].within, ['plain.zip']);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('reads UTF-8 and code page 437 names, the Unicode path extra field, and a stored entry\'s type', () => {
    const l = list(buildZip([
      { name: 'Größe.txt', flags: 0x800, data: Buffer.from('x') },
      { name: 'x', nameBytes: Buffer.from([0x81, 0x62, 0x65, 0x72, 0x2e, 0x74, 0x78, 0x74]), data: Buffer.from('x') },
      { name: 'readme.txt', unicodePath: 'setup.exe', data: PROGRAM },
      { name: 'compressed.bin', data: PROGRAM, deflate: true },
    ]));
    assert.deepEqual(names(l), ['Größe.txt', 'über.txt', 'readme.txt|setup.exe', 'compressed.bin']);
    assert.equal(l!.entries[2].detectedType, 'application/x-dosexec');
    assert.equal(l!.entries[3].detectedType, undefined, 'a compressed entry gets no detected type');
  });

  it('lists an archive behind other bytes (a self-extractor), and archives stored or deflated in it two levels deep, no deeper', () => {
    const level3 = buildZip([{ name: 'deepest.exe', data: PROGRAM }]);
    const level2 = buildZip([{ name: 'level3.zip', data: level3 }, { name: 'two.exe', data: PROGRAM }]);
    const sfx = buildZip([{ name: 'level2.zip', data: level2 }, { name: 'packed.zip', data: level2, deflate: true }], { prefix: PROGRAM });
    const l = listZip(wholeSource(sfx), newListingBudget(), false);
    assert.deepEqual(names(l), ['level2.zip', 'level3.zip', 'two.exe', 'packed.zip', 'level3.zip', 'two.exe']);
    assert.deepEqual(l!.entries[1].within, ['level2.zip']);
    assert.deepEqual(l!.entries[5].within, ['packed.zip']);
    assert.equal(l!.unreadable, undefined);
  });

  it('a cut-short archive, or one whose counts disagree with its directory, is listed as far as read and unreadable', () => {
    const whole = buildZip(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}.exe`, data: PROGRAM })));
    for (const cut of [20, whole.length - 22 - 30, whole.length - 10]) {
      const l = list(whole.subarray(0, cut));
      assert.ok(l?.unreadable, `cut at ${cut}: ${JSON.stringify(l)}`);
    }
    const more = list(buildZip([{ name: 'a.txt' }, { name: 'hidden.exe' }], { statedCount: 1 }));
    assert.deepEqual(names(more), ['a.txt', 'hidden.exe']);
    assert.match(more!.unreadable!, /counts 1 entries, its central directory holds 2/);
    const huge = list(buildZip([{ name: 'a.txt' }], { statedCount: 0xfffe }));
    assert.ok(huge?.unreadable);
    // A directory said to be larger than the file: no directory is found where the record points.
    const big = list(buildZip([{ name: 'a.txt' }], { statedDirectorySize: 0x7fffffff }));
    assert.equal(big?.unreadable, 'no central directory was found');
    // Random bytes that merely start like a ZIP.
    assert.equal(list(Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(5000, 0x5a)]))?.unreadable, 'no central directory was found');
  });

  it('offsets pointing anywhere: into the directory, past the end, and many entries at one stored archive', () => {
    const inner = buildZip([{ name: 'inner.exe', data: PROGRAM }]);
    const entries: ZipEntryInput[] = [{ name: 'inner.zip', data: inner }];
    for (let i = 0; i < 500; i++) entries.push({ name: `again${i}.zip`, data: Buffer.alloc(0), localOffset: 0 });
    entries.push({ name: 'wild.zip', data: inner, localOffset: 0x7ffffff0 });
    const l = list(buildZip(entries));
    // The stored archive is listed once, however many entries point at it; a wild offset reads nothing.
    assert.equal(l!.entries.filter((e) => e.names[0] === 'inner.exe').length, 1);
    assert.equal(l!.entries.length, 1 + 1 + 500 + 1);
  });

  it('a fake end record in a comment, or in a file that is no archive, is passed over', () => {
    const real = buildZip([{ name: 'a.exe', data: PROGRAM }], { comment: `note PK\x05\x06${'\0'.repeat(18)} and more words` });
    assert.deepEqual(names(list(real)), ['a.exe']);
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n', 'latin1'), Buffer.from('PK\x05\x06', 'latin1'), Buffer.alloc(40, 0xff)]);
    assert.equal(listZip(wholeSource(pdf), newListingBudget(), false), undefined);
  });

  it('an archive behind other bytes whose comment holds more false end records than are tried is unreadable, not no archive', () => {
    // Each an empty archive's end record, the last one ending the file as the real one would.
    const fakes = (n: number) => `PK\x05\x06${'\0'.repeat(18)}`.repeat(n);
    const prefix = Buffer.from('junk before the archive ');
    const hidden = (comment: string) => listZip(wholeSource(buildZip([{ name: 'invoice.exe', data: PROGRAM }], { prefix, comment })), newListingBudget(), false);
    const l = hidden(fakes(MAX_CANDIDATES));
    assert.ok(l, 'an archive, not none');
    assert.equal(l.unreadable, `its end holds more end record signatures than the gateway tries (${MAX_CANDIDATES})`);
    // Fewer: the real record is reached and the archive listed, not taken for the empty one the comment ends with.
    assert.deepEqual(names(hidden(fakes(MAX_CANDIDATES - 1))), ['invoice.exe']);
    assert.deepEqual(names(hidden(`see you PK\x05\x06${'\0'.repeat(18)}`)), ['invoice.exe']);
    assert.equal(hidden(fakes(MAX_CANDIDATES - 1))!.unreadable, undefined);
    // A real empty archive is still one, and bytes that are no archive with a few signatures in them are none.
    assert.deepEqual(list(buildZip([])), { entries: [], encrypted: false });
    const text = Buffer.from(`a letter that quotes PK\x05\x06 twice: PK\x05\x06, ${'x'.repeat(200)}`, 'latin1');
    assert.equal(listZip(wholeSource(text), newListingBudget(), false), undefined);
  });

  it('holds a message\'s archives to the entry budget: what is over it is unreadable, the rest still listed', () => {
    const budget = newListingBudget();
    const many = buildZip(Array.from({ length: ARCHIVE_MAX_ENTRIES - 10 }, (_, i) => ({ name: `n${i}` })));
    assert.equal(list(many, budget)!.unreadable, undefined);
    const next = list(buildZip(Array.from({ length: 20 }, (_, i) => ({ name: `m${i}.exe` }))), budget);
    assert.equal(next!.entries.length, 10);
    assert.match(next!.unreadable!, /more entries than the gateway lists in a message \(10000 in all\)/);
    // A stated count of millions costs what the directory's bytes hold, no more.
    assert.equal(list(buildZip([{ name: 'x' }], { statedCount: 0xffff - 1 }))!.entries.length, 1);
  });

  it('takes an Office Open XML document for what it is, not for an archive, and tells one with macros', () => {
    const doc = (...extra: string[]) => buildZip(['[Content_Types].xml', '_rels/.rels', ...extra].map((name) => ({ name, data: Buffer.from('<x/>') })));
    const facts = (zip: Buffer) => contentFacts(wholeSource(zip), newListingBudget());
    assert.equal(facts(doc('word/document.xml')).detectedType, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
    assert.equal(facts(doc('xl/workbook.xml', 'xl/vbaProject.bin')).detectedType, 'application/vnd.ms-excel.sheet.macroenabled.12');
    // Still listed: an .exe packed beside the parts of a document is seen.
    assert.deepEqual(names(facts(doc('word/document.xml', 'setup.exe')).archive)?.at(-1), 'setup.exe');
    assert.equal(facts(buildZip([{ name: 'word/document.xml' }])).detectedType, 'application/zip');
  });

  it('keeps a ZIP posing as Office an archive: without the main part, unreadable, or with an encrypted entry', () => {
    const facts = (zip: Buffer) => contentFacts(wholeSource(zip), newListingBudget());
    const part = (name: string, extra: Partial<ZipEntryInput> = {}): ZipEntryInput => ({ name, data: Buffer.from('<x/>'), ...extra });
    // An empty [Content_Types].xml and any file in word/: no document Word would open, and a rule on
    // `type: application/zip` must still find the program beside it.
    const posing = facts(buildZip([{ name: '[Content_Types].xml' }, part('word/x'), { name: 'invoice.exe', data: PROGRAM }]));
    assert.equal(posing.detectedType, 'application/zip');
    assert.deepEqual(names(posing.archive), ['[Content_Types].xml', 'word/x', 'invoice.exe']);
    const parts = ['[Content_Types].xml', '_rels/.rels', 'word/document.xml'].map((n) => part(n));
    assert.equal(facts(buildZip([...parts, { name: 'invoice.exe', data: PROGRAM }], { statedCount: 9 })).detectedType, 'application/zip', 'unreadable: it may hide more');
    assert.equal(facts(buildZip([...parts, part('word/media/x.bin', { flags: 0x1 })])).detectedType, 'application/zip', 'Office encrypts a document as OLE2, never inside its ZIP');
    assert.equal(facts(buildZip([...parts.slice(0, 2), part('ppt/presentation.xml')])).detectedType, 'application/vnd.openxmlformats-officedocument.presentationml.presentation');
  });

  it('of content not kept, reads the start and the last part as they stream: the directory there is listed', () => {
    const filler = Buffer.alloc(3 * 1024 * 1024, 0x11);
    const archive = buildZip([{ name: 'big.bin', data: filler }, { name: 'setup.exe', data: PROGRAM }, { name: 'big2.bin', data: filler }]);
    const sniffer = new ContentSniffer();
    for (let i = 0; i < archive.length; i += 65536) sniffer.write(archive.subarray(i, i + 65536));
    const facts = sniffer.finish(newListingBudget());
    assert.equal(facts.detectedType, 'application/zip');
    assert.deepEqual(names(facts.archive), ['big.bin', 'setup.exe', 'big2.bin']);
    // setup.exe lies 3 MB in, outside both windows: its type is unknown, not guessed.
    assert.equal(facts.archive!.entries[1].detectedType, undefined);
    // A directory larger than the tail kept: unreadable, and said so.
    const wide = buildZip(Array.from({ length: 3000 }, (_, i) => ({ name: `${'d'.repeat(400)}${i}.txt` })));
    assert.ok(wide.length > ARCHIVE_TAIL_BYTES + 65536);
    const head = wide.subarray(0, 40_000);
    const tail = wide.subarray(wide.length - ARCHIVE_TAIL_BYTES);
    const l = listZip(windowSource(wide.length, head, tail), newListingBudget(), true);
    assert.match(l!.unreadable!, /not within the part of the attachment that was kept/);
    assert.equal(contentFacts(wholeSource(Buffer.from('plain words')), newListingBudget()).archive, undefined);
  });
});

// The RAR header walker: RAR 5 and RAR 4 archives built by the format's descriptions (no free program writes RAR) and
// checked with a real RAR reader (unrar-free, on libarchive) first, then hostile ones: cut short, encrypted headers,
// sizes pointing anywhere, endless tiny headers, headers past the kept part of a large attachment, over the budget.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { wholeSource, windowSource } from '../../../core/message/byte-source.ts';
import { listArchive } from '../../../core/message/archive-listing.ts';
import { RAR_MAX_HEADERS, listRar } from '../../../core/message/rar-listing.ts';
import { newListingBudget, type ArchiveListing } from '../../../core/message/zip-listing.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { RAR4_SIGNATURE, RAR5_SIGNATURE, buildRar4, buildRar5, rar4UnicodeField, rar5Header, vint, type RarFileInput } from './rar-builder.ts';
import { PROGRAM, buildZip } from './zip-builder.ts';

const list = (rar: Buffer, budget = newListingBudget()) => listRar(wholeSource(rar), budget);
const names = (l: ArchiveListing | undefined) => l?.entries.map((e) => e.names.join('|'));

const FILES: RarFileInput[] = [
  { name: 'readme.txt', data: Buffer.from('hello\n') },
  { name: 'tools', directory: true },
  { name: 'tools/setup.exe', data: PROGRAM },
];

/** What unrar-free lists of `rar`: the path lines of its table. */
function unrarFreeList(rar: Buffer): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rar-'));
  try {
    writeFileSync(path.join(dir, 'a.rar'), rar);
    const out = execFileSync('unrar-free', ['-t', path.join(dir, 'a.rar')], { encoding: 'utf8' });
    const table = out.split('----------------------------------------------')[1] ?? '';
    return table.split('\n').filter((l) => /^ \S/.test(l)).map((l) => l.trim());
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

describe('core/message/rar-listing', function () {
  this.timeout(60_000);
  before(() => ensureCommands({ 'unrar-free': 'unrar-free' }));

  it('lists the files of a RAR 5 archive, folders and the comment header left out, as a real reader lists them', () => {
    const rar = buildRar5(FILES, { comment: true });
    assert.deepEqual(unrarFreeList(rar), ['readme.txt', 'tools', 'tools/setup.exe']);
    const l = list(rar)!;
    assert.deepEqual(names(l), ['readme.txt', 'tools/setup.exe']);
    assert.deepEqual(l.entries.map((e) => e.size), [6, PROGRAM.length]);
    assert.equal(l.encrypted, false);
    assert.equal(l.unreadable, undefined);
  });

  it('lists the files of a RAR 4 archive, as a real reader lists them', () => {
    const rar = buildRar4(FILES);
    assert.deepEqual(unrarFreeList(rar), ['readme.txt', 'tools', 'tools/setup.exe']);
    const l = list(rar)!;
    assert.deepEqual(names(l), ['readme.txt', 'tools/setup.exe']);
    assert.deepEqual(l.entries.map((e) => e.size), [6, PROGRAM.length]);
    assert.equal(l.unreadable, undefined);
  });

  it('reads a RAR 4 packed Unicode name, which readers extract under, beside the OEM name that may say otherwise', () => {
    const rar = buildRar4([{ name: '', rar4Name: rar4UnicodeField('readme.txt', 'setup.exe'), data: PROGRAM }]);
    assert.deepEqual(unrarFreeList(rar), ['setup.exe'], 'libarchive extracts it as setup.exe');
    assert.deepEqual(list(rar)!.entries[0].names, ['setup.exe', 'readme.txt']);
    const cyrillic = buildRar4([{ name: '', rar4Name: rar4UnicodeField('????.exe', 'Счёт.exe'), data: PROGRAM }]);
    assert.deepEqual(list(cyrillic)!.entries[0].names, ['Счёт.exe', '????.exe']);
  });

  it('decodes the run kinds of a RAR 4 Unicode name: OEM bytes copied, and copied with a correction under the high byte', () => {
    // Hand-packed by the format: high byte 0x04; flag byte 0xC0 = one kind-3 run; 0x81 = a run of 3 with a correction
    // byte 0xCF added to each of the OEM bytes "ABC" (0x41 + 0xCF = 0x10): U+0410 to U+0412, "АБВ".
    const corrected = Buffer.concat([Buffer.from('ABC\0', 'latin1'), Buffer.from([0x04, 0xc0, 0x81, 0xcf])]);
    // High byte 0; flags 0xC0 = a kind-3 run; 0x08 = 10 OEM bytes copied as they are.
    const copied = Buffer.concat([Buffer.from('report.exe\0', 'latin1'), Buffer.from([0x00, 0xc0, 0x08])]);
    const rar = buildRar4([{ name: '', rar4Name: corrected, data: PROGRAM }, { name: '', rar4Name: copied, data: PROGRAM }]);
    assert.deepEqual(names(list(rar)), ['АБВ|ABC', 'report.exe']);
  });

  it('says a file is encrypted and still lists its name, in RAR 5 and RAR 4', () => {
    for (const build of [buildRar5, buildRar4]) {
      const l = list(build([{ name: 'setup.exe', data: PROGRAM, encrypted: true }, { name: 'a.txt', data: Buffer.from('x') }]))!;
      assert.deepEqual(names(l), ['setup.exe', 'a.txt']);
      assert.deepEqual(l.entries.map((e) => e.encrypted), [true, false]);
      assert.equal(l.encrypted, true);
      assert.equal(l.unreadable, undefined);
    }
  });

  it('makes an archive with encrypted headers (rar -hp) encrypted and unreadable, never empty and harmless', () => {
    for (const build of [buildRar5, buildRar4]) {
      const l = list(build(FILES, { headersEncrypted: true }))!;
      assert.deepEqual(l.entries, []);
      assert.equal(l.encrypted, true);
      assert.match(l.unreadable!, /headers are encrypted/);
    }
  });

  it('keeps what was read of an archive cut short, and says it is unreadable', () => {
    for (const build of [buildRar5, buildRar4]) {
      const whole = build([{ name: 'a.txt', data: Buffer.from('first') }, { name: 'setup.exe', data: PROGRAM }]);
      const cutInHeader = list(whole.subarray(0, whole.indexOf('setup.exe') - 3))!;
      assert.deepEqual(names(cutInHeader), ['a.txt']);
      assert.match(cutInHeader.unreadable!, /cut short/);
      const cutInData = list(whole.subarray(0, whole.indexOf('MZ') + 2))!;
      assert.deepEqual(names(cutInData), ['a.txt', 'setup.exe']);
      assert.match(cutInData.unreadable!, /cut short/);
    }
  });

  it('takes an archive that ends cleanly without its end header (older RAR versions) as read in full', () => {
    assert.deepEqual(list(buildRar4(FILES, { noEnd: true }))!.unreadable, undefined);
    assert.deepEqual(names(list(buildRar5(FILES, { noEnd: true }))), ['readme.txt', 'tools/setup.exe']);
  });

  it('stops at damaged headers: a size of zero, an oversized size, a vint that never ends, a block shorter than its fields', () => {
    const main = rar5Header(Buffer.concat([vint(1), vint(0), vint(0)]));
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.concat([RAR5_SIGNATURE, main, Buffer.from([0, 0, 0, 0, 0])]), /damaged .*0 bytes/],
      [Buffer.concat([RAR5_SIGNATURE, main, Buffer.from([0, 0, 0, 0]), vint(64 * 1024 * 1024), Buffer.alloc(16)]), /damaged/],
      [Buffer.concat([RAR5_SIGNATURE, main, Buffer.from([0, 0, 0, 0]), Buffer.alloc(12, 0xff)]), /damaged/],
      // A RAR 4 block stating a size of 3, less than its own 7 bytes: read as such it would never move on.
      [Buffer.concat([RAR4_SIGNATURE, Buffer.from([0, 0, 0x73, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 0x75, 0, 0, 3, 0])]), /damaged .*3 bytes/],
      // A RAR 5 file header whose name length runs past the header.
      [Buffer.concat([RAR5_SIGNATURE, main, rar5Header(Buffer.concat([vint(2), vint(0), vint(0), vint(6), vint(0x20), vint(0), vint(0), vint(200), Buffer.from('a.exe')]))]), /damaged .*past the end of its header/],
    ];
    for (const [rar, why] of cases) {
      const l = list(rar)!;
      assert.deepEqual(l.entries, []);
      assert.match(l.unreadable!, why);
    }
  });

  it('walks a bounded number of headers: endless tiny blocks end the walk as unreadable', () => {
    // RAR 4 blocks of an old kind, 7 bytes each, none of them a file: more than the walk takes.
    const tiny = Buffer.from([0, 0, 0x75, 0, 0, 7, 0]);
    const rar = Buffer.concat([RAR4_SIGNATURE, Buffer.from([0, 0, 0x73, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0]), ...new Array<Buffer>(RAR_MAX_HEADERS + 5).fill(tiny), buildRar4([{ name: 'setup.exe', data: PROGRAM }]).subarray(20)]);
    const l = list(rar)!;
    assert.match(l.unreadable!, new RegExp(`more headers than the gateway walks .*${RAR_MAX_HEADERS}`));
  });

  it('a data size pointing past the end makes the archive cut short, the file before it still listed', () => {
    const main = rar5Header(Buffer.concat([vint(1), vint(0), vint(0)]));
    const name = Buffer.from('a.exe');
    const file = rar5Header(Buffer.concat([vint(2), vint(0x2), vint(2 ** 40), vint(0), vint(0), vint(0x20), vint(0), vint(0), vint(name.length), name]));
    const l = list(Buffer.concat([RAR5_SIGNATURE, main, file]))!;
    assert.deepEqual(names(l), ['a.exe']);
    assert.match(l.unreadable!, /cut short/);
  });

  it('shares the message budget: entries past it, and header bytes past it, make the archive unreadable', () => {
    const rar = buildRar5([{ name: 'a.txt', data: Buffer.from('a') }, { name: 'b.exe', data: PROGRAM }]);
    const few = list(rar, { entries: 1, bytes: 1_000_000 })!;
    assert.deepEqual(names(few), ['a.txt']);
    assert.match(few.unreadable!, /more entries than the gateway lists/);
    const poor = list(rar, { entries: 100, bytes: 20 })!;
    assert.match(poor.unreadable!, /over what the gateway reads/);
  });

  it('of a large attachment only partly kept, a header in the part not kept makes the archive unreadable', () => {
    const rar = buildRar5([{ name: 'big.bin', data: Buffer.alloc(200_000, 1) }, { name: 'setup.exe', data: PROGRAM }]);
    const l = listRar(windowSource(rar.length, rar.subarray(0, 1000), rar.subarray(rar.length - 100)), newListingBudget())!;
    assert.deepEqual(names(l), ['big.bin']);
    assert.match(l.unreadable!, /not within the part of the attachment that was kept/);
  });

  it('is what the one archive lister answers for a RAR, and a ZIP joined to its end is listed too', () => {
    const rar = buildRar5([{ name: 'setup.exe', data: PROGRAM }]);
    assert.deepEqual(names(listArchive(wholeSource(rar), newListingBudget(), 'application/vnd.rar')), ['setup.exe']);
    const both = Buffer.concat([rar, buildZip([{ name: 'other.scr', data: PROGRAM }])]);
    assert.deepEqual(names(listArchive(wholeSource(both), newListingBudget(), 'application/vnd.rar')), ['setup.exe', 'other.scr']);
    assert.equal(list(Buffer.from('Rar!\x1a\x08 not a rar')), undefined);
  });
});

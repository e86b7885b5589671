// Archives compressed in a ZIP, listed in turn: ZIP, RAR and 7z deflated by the real zip and 7-Zip programs, one found
// by its first bytes under another name, and the bounds a hostile one meets (a 1 GB bomb, a bomb lying about its size,
// sizes and CRC-32 that disagree with the directory, damaged data, the message's budget, the part of an attachment
// not kept), each of which makes the archive unreadable with its reason, never an empty one.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { listArchive } from '../../../core/message/archive-listing.ts';
import { wholeSource, windowSource, type ByteSource } from '../../../core/message/byte-source.ts';
import { ARCHIVE_TAIL_BYTES } from '../../../core/message/content-sniffer.ts';
import { detectFileType, MAGIC_HEAD_BYTES } from '../../../core/message/file-magic.ts';
import { ARCHIVE_MAX_INFLATED, MAX_INFLATE_RATIO } from '../../../core/message/zip-entry-content.ts';
import { newListingBudget, type ArchiveListing, type ListingBudget } from '../../../core/message/zip-listing.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { deflatedZeroBomb } from './bomb-builder.ts';
import { buildRar5 } from './rar-builder.ts';
import { PROGRAM, buildZip } from './zip-builder.ts';

/** The listing the message's facts get for `src`, by the type its first bytes name. */
const listedFrom = (src: ByteSource, budget: ListingBudget = newListingBudget()) => listArchive(src, budget, detectFileType(src.readUpTo(0, MAGIC_HEAD_BYTES) ?? Buffer.alloc(0)));
const listed = (archive: Buffer, budget?: ListingBudget) => listedFrom(wholeSource(archive), budget);
const names = (l: ArchiveListing | undefined) => l?.entries.map((e) => [...(e.within ?? []), e.names[0]].join(' / '));
/** Method of the first entry, from its local header. */
const firstMethod = (zip: Buffer) => zip.readUInt16LE(8);
const DEFLATED = 8;

/** Runs `make` in a new folder holding setup.exe and readme.txt, then removes the folder. */
function inFolder<T>(make: (run: (cmd: string, args: string[]) => void, read: (name: string) => Buffer) => T): T {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-nested-'));
  try {
    writeFileSync(path.join(dir, 'setup.exe'), PROGRAM);
    writeFileSync(path.join(dir, 'readme.txt'), 'hello\n'.repeat(40));
    return make((cmd, args) => { execFileSync(cmd, args, { cwd: dir }); }, (name) => readFileSync(path.join(dir, name)));
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

describe('core/message/zip-entry-content', function () {
  this.timeout(60_000);
  before(() => ensureCommands({ zip: 'zip', '7zz': '7zip' }));

  it('lists a ZIP, a RAR and a plain-header 7z deflated in a ZIP, as zip and 7-Zip make them', () => {
    inFolder((run, read) => {
      run('zip', ['-q', 'inner.zip', 'setup.exe', 'readme.txt']);
      // zip stores a .zip by default (-n); `-n :` empties that list, as other programs deflate everything.
      run('zip', ['-q', '-n', ':', 'by-zip.zip', 'inner.zip']);
      run('7zz', ['a', '-bso0', '-bsp0', '-tzip', 'by-7zip.zip', 'inner.zip']);
      for (const label of ['by-zip.zip', 'by-7zip.zip']) {
        const outer = read(label);
        assert.equal(firstMethod(outer), DEFLATED, `${label}: inner.zip is deflated in it`);
        const l = listed(outer);
        assert.deepEqual(names(l), ['inner.zip', 'inner.zip / setup.exe', 'inner.zip / readme.txt'], label);
        assert.equal(l!.unreadable, undefined, label);
        assert.equal(l!.entries[0].detectedType, undefined, `${label}: a compressed entry gets no detected type`);
      }
      run('7zz', ['a', '-bso0', '-bsp0', '-mhc=off', 'inner.7z', 'setup.exe']);
      run('zip', ['-q', '-n', ':', 'with-7z.zip', 'inner.7z']);
      assert.deepEqual(names(listed(read('with-7z.zip'))), ['inner.7z', 'inner.7z / setup.exe']);
    });
    const rar = buildZip([{ name: 'docs.rar', data: buildRar5([{ name: 'tools/setup.exe', data: PROGRAM }]), deflate: true }]);
    assert.deepEqual(names(listed(rar)), ['docs.rar', 'docs.rar / tools/setup.exe']);
  });

  it('an encrypted archive in a ZIP, or one holding encrypted files, is encrypted; a method not inflated is unreadable', () => {
    inFolder((run, read) => {
      run('zip', ['-q', 'inner.zip', 'setup.exe']);
      run('zip', ['-q', '-P', 'secret', '-n', ':', 'locked-outer.zip', 'inner.zip']);
      const lockedOuter = listed(read('locked-outer.zip'));
      assert.deepEqual(names(lockedOuter), ['inner.zip'], 'its names cannot be read without the password');
      assert.equal(lockedOuter!.encrypted, true);
      run('zip', ['-q', '-P', 'secret', 'locked-inner.zip', 'setup.exe']);
      run('zip', ['-q', '-n', ':', 'holds-locked.zip', 'locked-inner.zip']);
      const holdsLocked = listed(read('holds-locked.zip'));
      assert.deepEqual(names(holdsLocked), ['locked-inner.zip', 'locked-inner.zip / setup.exe']);
      assert.equal(holdsLocked!.encrypted, true);
      assert.equal(holdsLocked!.unreadable, undefined);
      run('7zz', ['a', '-bso0', '-bsp0', '-psecret', '-mhe=on', 'hidden.7z', 'setup.exe']);
      run('zip', ['-q', '-n', ':', 'holds-hidden.zip', 'hidden.7z']);
      const holdsHidden = listed(read('holds-hidden.zip'));
      assert.equal(holdsHidden!.encrypted, true);
      assert.match(holdsHidden!.unreadable!, /^hidden\.7z, (?:stored|compressed) in it: its list of files is encrypted/);
      run('zip', ['-q', '-Z', 'bzip2', '-n', ':', 'bzip2.zip', 'inner.zip']);
      assert.match(listed(read('bzip2.zip'))!.unreadable!, /^inner\.zip, compressed in it: it is compressed with a method the gateway does not inflate \(12\)$/);
    });
  });

  it('finds an archive by its first bytes under another name; a compressed file that is none is not inflated', () => {
    const inner = buildZip([{ name: 'setup.exe', data: PROGRAM, deflate: true }]);
    const text = Buffer.from('minutes of the meeting\n'.repeat(100_000));
    const budget = newListingBudget();
    const l = listed(buildZip([{ name: 'photos.dat', data: inner, deflate: true }, { name: 'minutes.txt', data: text, deflate: true }]), budget);
    assert.deepEqual(names(l), ['photos.dat', 'photos.dat / setup.exe', 'minutes.txt']);
    // photos.dat inflated whole, of minutes.txt (2.3 MB) only its first bytes.
    const spent = ARCHIVE_MAX_INFLATED - budget.inflated!;
    assert.ok(spent >= inner.length && spent < inner.length + 70_000, `${spent} bytes inflated`);
    // Past the looks a message's budget allows, an archive under another name is judged by that name.
    const oneLook: ListingBudget = { ...newListingBudget(), firstLooks: 1 };
    const two = listed(buildZip([{ name: 'a.dat', data: inner, deflate: true }, { name: 'b.dat', data: inner, deflate: true }]), oneLook);
    assert.deepEqual(names(two), ['a.dat', 'a.dat / setup.exe', 'b.dat']);
    assert.equal(two!.unreadable, undefined);
  });

  it('a zip bomb in a ZIP (1 GB of zeros) is unreadable, and nothing of it is inflated', () => {
    const bomb = deflatedZeroBomb(1024);
    const rssBefore = process.resourceUsage().maxRSS;
    const budget = newListingBudget();
    const l = listed(buildZip([
      { name: 'inner.zip', deflate: true, packed: bomb.packed, statedSize: bomb.size, statedCrc: bomb.crc },
      { name: 'setup.exe', data: PROGRAM },
    ]), budget);
    assert.deepEqual(names(l), ['inner.zip', 'setup.exe'], 'the files beside it are still listed');
    assert.equal(l!.unreadable, `inner.zip, compressed in it: it would inflate ${bomb.packed.length} bytes to ${bomb.size}, more than ${MAX_INFLATE_RATIO} times (as a zip bomb does)`);
    assert.equal(budget.inflated, ARCHIVE_MAX_INFLATED);
    // The same bomb stating a size its compressed bytes could hold: inflated only as far as that size.
    const stated = 20 * bomb.packed.length;
    const lying = listed(buildZip([{ name: 'inner.zip', deflate: true, packed: bomb.packed, statedSize: stated, statedCrc: bomb.crc }]), budget);
    assert.equal(lying!.unreadable, `inner.zip, compressed in it: it inflates to more than the ${stated} bytes its directory states`);
    assert.equal(ARCHIVE_MAX_INFLATED - budget.inflated, stated);
    const grewKb = process.resourceUsage().maxRSS - rssBefore;
    assert.ok(grewKb < 200 * 1024, `the peak memory grew by ${grewKb} kB`);
    // Nested a level deeper, it is past the depth listed and not even looked at.
    const deeper = listed(buildZip([{ name: 'outer.zip', data: buildZip([{ name: 'inner.zip', deflate: true, packed: bomb.packed, statedSize: bomb.size, statedCrc: bomb.crc }]) }]));
    assert.deepEqual(names(deeper), ['outer.zip', 'outer.zip / inner.zip']);
    assert.equal(deeper!.unreadable, undefined);
  });

  it('checks what it inflates against the directory: size, CRC-32, damaged or cut-short data; a stored one\'s sizes', () => {
    const inner = buildZip([{ name: 'setup.exe', data: PROGRAM }]);
    const packed = deflateRawSync(inner);
    const cases: Array<[string, Parameters<typeof buildZip>[0][0], RegExp]> = [
      ['crc', { name: 'inner.zip', data: inner, deflate: true, statedCrc: 0x12345678 }, /fail the CRC-32 its directory states$/],
      ['smaller', { name: 'inner.zip', data: inner, deflate: true, statedSize: inner.length - 10 }, /inflates to more than the \d+ bytes its directory states$/],
      ['larger', { name: 'inner.zip', data: inner, deflate: true, statedSize: inner.length + 10 }, /inflates to \d+ bytes, its directory states \d+$/],
      ['damaged', { name: 'inner.zip', data: inner, deflate: true, packed: Buffer.concat([Buffer.from([0x07]), packed.subarray(1)]) }, /its compressed data is damaged \(invalid block type\)$/],
      ['cut', { name: 'inner.zip', data: inner, deflate: true, packed: packed.subarray(0, packed.length >> 1) }, /its compressed data is damaged \(unexpected end of file\)$/],
      ['stored', { name: 'inner.zip', data: inner, statedSize: inner.length + 5 }, /^inner\.zip, stored in it: it is stored, yet its directory states \d+ bytes stored and \d+ extracted$/],
    ];
    for (const [label, entry, why] of cases) {
      const l = listed(buildZip([entry, { name: 'other.exe', data: PROGRAM }]));
      assert.deepEqual(names(l), ['inner.zip', 'other.exe'], label);
      assert.match(l!.unreadable!, why, label);
    }
  });

  it('shares the message\'s budget of inflated bytes: past it, an archive in an archive is unreadable', () => {
    const inner = buildZip([{ name: 'setup.exe', data: PROGRAM }, { name: 'noise.bin', data: randomBytes(100_000) }]);
    const outer = buildZip([{ name: 'inner.zip', data: inner, deflate: true }]);
    const budget: ListingBudget = { ...newListingBudget(), inflated: 150_000 };
    assert.deepEqual(names(listed(outer, budget)), ['inner.zip', 'inner.zip / setup.exe', 'inner.zip / noise.bin']);
    const second = listed(outer, budget);
    assert.deepEqual(names(second), ['inner.zip']);
    assert.equal(second!.unreadable, `inner.zip, compressed in it: it would inflate to ${inner.length} bytes, over what the gateway inflates of a message's archives (${ARCHIVE_MAX_INFLATED} bytes in all)`);
    // A budget made for the RAR or 7z reader alone inflates nothing.
    const { inflated: _, ...without } = newListingBudget();
    assert.match(listed(outer, without)!.unreadable!, /over what the gateway inflates/);
  });

  it('an archive in the part of a large attachment not kept is unreadable, not empty', () => {
    const filler = Buffer.alloc(3 * 1024 * 1024, 0x11);
    const inner = buildZip([{ name: 'setup.exe', data: PROGRAM }]);
    const outer = buildZip([{ name: 'a.bin', data: filler }, { name: 'inner.zip', data: inner, deflate: true }, { name: 'b.bin', data: filler }]);
    const src = windowSource(outer.length, outer.subarray(0, MAGIC_HEAD_BYTES), outer.subarray(outer.length - ARCHIVE_TAIL_BYTES));
    const l = listedFrom(src);
    assert.deepEqual(names(l), ['a.bin', 'inner.zip', 'b.bin']);
    assert.equal(l!.unreadable, 'inner.zip, compressed in it: its data is not within the part of the attachment that was kept');
  });
});

describe('nested archives: entries crafted to hide one', () => {
  it('a decoy entry reading the same local header as stored text does not keep the deflated inner.zip from being listed', () => {
    const inner = buildZip([{ name: 'setup.exe', data: PROGRAM }]);
    const decoy = Buffer.from('decoy text\n');
    // The decoy's own local header comes first; its directory record points at inner.zip's local header instead.
    const innerLocal = 30 + 'a.txt'.length + decoy.length;
    const zip = buildZip([{ name: 'a.txt', data: decoy, localOffset: innerLocal }, { name: 'inner.zip', data: inner, deflate: true }]);
    const l = listed(zip);
    assert.ok(names(l)!.includes('inner.zip / setup.exe') || l!.unreadable, `listed: ${JSON.stringify(names(l))}, unreadable: ${l!.unreadable}`);
  });

  it('an archive under another name whose first compressed bytes inflate past one look is looked at, not passed over', () => {
    // Deflate's own run after the signature: 128 compressed bytes make more than the 64 KB a first look may.
    const data = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(3_000_000)]);
    const l = listed(buildZip([{ name: 'data.txt', data, deflate: true }]));
    assert.match(l!.unreadable ?? '', /^data\.txt, compressed in it: /, JSON.stringify(l));
  });
});

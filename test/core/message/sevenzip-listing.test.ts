// The 7z header reader, on archives 7-Zip itself writes: a plain header (-mhc=off) read in full, encrypted files and
// an encrypted header; then damaged and lying headers. The default compressed header: sevenzip-encoded-header.test.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { wholeSource, windowSource } from '../../../core/message/byte-source.ts';
import { listArchive } from '../../../core/message/archive-listing.ts';
import { listSevenZip } from '../../../core/message/sevenzip-listing.ts';
import { newListingBudget, type ArchiveListing } from '../../../core/message/zip-listing.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { PROGRAM } from './zip-builder.ts';

const list = (archive: Buffer, budget = newListingBudget()) => listSevenZip(wholeSource(archive), budget);
const names = (l: ArchiveListing | undefined) => l?.entries.map((e) => e.names.join('|')).sort();

/** A 7z archive of the files given (path → content; a path ending in / a folder), made by 7zz with `switches`. */
function sevenZip(files: Record<string, Buffer | string>, switches: string[]): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-7z-'));
  try {
    const src = path.join(dir, 'src');
    for (const [name, data] of Object.entries(files)) {
      const at = path.join(src, name);
      if (name.endsWith('/')) { mkdirSync(at, { recursive: true }); continue; }
      mkdirSync(path.dirname(at), { recursive: true });
      writeFileSync(at, data);
    }
    execFileSync('7zz', ['a', '-bso0', '-bsp0', ...switches, path.join(dir, 'a.7z'), '.'], { cwd: src });
    return readFileSync(path.join(dir, 'a.7z'));
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** `archive` with its header (at its end) changed by `edit`, and the start header's CRC of it made right again. */
function withHeader(archive: Buffer, edit: (header: Buffer) => Buffer): Buffer {
  const at = 32 + Number(archive.readBigUInt64LE(12));
  const header = edit(Buffer.from(archive.subarray(at)));
  const start = Buffer.from(archive.subarray(0, 32));
  start.writeBigUInt64LE(BigInt(header.length), 20);
  start.writeUInt32LE(crc32(header), 28);
  start.writeUInt32LE(crc32(start.subarray(12, 32)), 8);
  return Buffer.concat([start, archive.subarray(32, at), header]);
}

const FILES = { 'readme.txt': 'hello\n', 'tools/setup.exe': PROGRAM, 'empty.txt': '', 'docs/': '' };

describe('core/message/sevenzip-listing', function () {
  this.timeout(60_000);
  before(() => ensureCommands({ '7zz': '7zip' }));

  it('reads a plain header in full: files in one solid folder with their sizes, an empty file, folders left out', () => {
    const l = list(sevenZip(FILES, ['-mhc=off']))!;
    assert.deepEqual(names(l), ['empty.txt', 'readme.txt', 'tools/setup.exe']);
    const size = (n: string) => l.entries.find((e) => e.names[0] === n)!.size;
    assert.deepEqual([size('readme.txt'), size('tools/setup.exe'), size('empty.txt')], [6, PROGRAM.length, 0]);
    assert.equal(l.encrypted, false);
    assert.equal(l.unreadable, undefined);
    assert.equal(l.unlisted, undefined);
  });

  it('reads a plain header of files in folders of their own (not solid), names in UTF-16 beyond Latin', () => {
    const l = list(sevenZip({ 'Счёт.exe': PROGRAM, 'a.txt': 'a', 'b.txt': 'bb' }, ['-mhc=off', '-ms=off']))!;
    assert.deepEqual(names(l), ['a.txt', 'b.txt', 'Счёт.exe']);
    assert.equal(l.entries.find((e) => e.names[0] === 'b.txt')!.size, 2);
  });

  it('lists the files of an archive whose files are encrypted but header plain, and says they are encrypted', () => {
    const l = list(sevenZip(FILES, ['-mhc=off', '-psecret']))!;
    assert.deepEqual(names(l), ['empty.txt', 'readme.txt', 'tools/setup.exe']);
    assert.equal(l.encrypted, true);
    assert.equal(l.entries.find((e) => e.names[0] === 'tools/setup.exe')!.encrypted, true);
  });

  it('makes an archive with an encrypted header (-mhe=on) encrypted and unreadable', () => {
    const l = list(sevenZip(FILES, ['-psecret', '-mhe=on']))!;
    assert.deepEqual(l.entries, []);
    assert.equal(l.encrypted, true);
    assert.match(l.unreadable!, /list of files is encrypted/);
  });

  it('says unreadable for a header that fails its CRC, is cut short, lies past the end, or is not kept', () => {
    const archive = sevenZip(FILES, ['-mhc=off']);
    const flipped = Buffer.from(archive);
    flipped[flipped.length - 3] ^= 0xff;
    assert.match(list(flipped)!.unreadable!, /fails its CRC/);
    assert.match(list(archive.subarray(0, archive.length - 1))!.unreadable!, /cut short/);
    const far = Buffer.from(archive);
    far.writeBigUInt64LE(2n ** 62n, 12);
    assert.match(list(far)!.unreadable!, /cut short/);
    const kept = windowSource(archive.length, archive.subarray(0, 40), archive.subarray(archive.length - 10));
    assert.match(listSevenZip(kept, newListingBudget())!.unreadable!, /not within the part of the attachment that was kept/);
  });

  it('says damaged, without reading past the header, for lying counts and names that run out', () => {
    const archive = sevenZip({ 'a.txt': 'a', 'setup.exe': PROGRAM }, ['-mhc=off']);
    // The name list cut to its first name (its size field made to agree): two files, one name.
    const oneName = withHeader(archive, (h) => {
      const first = h.indexOf(Buffer.from('a.txt\0', 'utf16le'));
      const second = h.indexOf(Buffer.from('setup.exe\0', 'utf16le'));
      // The name property: its id, its size (one byte here), a zero byte, then the names.
      assert.equal(h[first - 3], 0x11);
      h[first - 2] -= 20;
      return Buffer.concat([h.subarray(0, second), h.subarray(second + 20)]);
    });
    assert.match(list(oneName)!.unreadable!, /damaged \(it names 1 of its 2 files\)/);
    // A file count of a billion: more than the bytes left could describe.
    const many = withHeader(archive, (h) => {
      const at = h.lastIndexOf(Buffer.from([0x05, 0x02])); // FilesInfo, then its count of 2
      return Buffer.concat([h.subarray(0, at + 1), Buffer.from([0xe0, 0x00, 0xca, 0x9a, 0x3b]), h.subarray(at + 2)]);
    });
    assert.match(list(many)!.unreadable!, /damaged .*counts/);
  });

  it('shares the message budget: header bytes or entries past it make the archive unreadable', () => {
    const archive = sevenZip(FILES, ['-mhc=off']);
    assert.match(list(archive, { entries: 100, bytes: 10 })!.unreadable!, /over what the gateway reads/);
    const few = list(archive, { entries: 1, bytes: 1_000_000 })!;
    assert.equal(few.entries.length, 1);
    assert.match(few.unreadable!, /more entries than the gateway lists/);
  });

  it('is what the one archive lister answers for a 7z; other bytes are no 7z', () => {
    const archive = sevenZip({ 'setup.exe': PROGRAM }, ['-mhc=off']);
    assert.deepEqual(names(listArchive(wholeSource(archive), newListingBudget(), 'application/x-7z-compressed')), ['setup.exe']);
    assert.equal(list(Buffer.from('7z but not one at all, no signature here')), undefined);
  });
});

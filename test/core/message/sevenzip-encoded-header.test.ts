// 7z archives whose header is compressed, as 7-Zip writes them by default: the names in them are listed once the
// header is decompressed (LZMA, and LZMA2 as other writers use), within the cap and the message's budget. An encrypted
// header stays encrypted, another coder leaves the names unlisted, and damage of every kind (cut, flipped, lying sizes,
// a few hundred seeded mutations) ends in a listing or `unreadable`, never an exception.
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { wholeSource, windowSource } from '../../../core/message/byte-source.ts';
import { HeaderCursor } from '../../../core/message/header-cursor.ts';
import { MAX_DECODED_HEADER } from '../../../core/message/sevenzip-encoded-header.ts';
import { listSevenZip } from '../../../core/message/sevenzip-listing.ts';
import { newListingBudget, type ArchiveListing, type ListingBudget } from '../../../core/message/zip-listing.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { LZMA2_BY_XZ, LZMA_BY_XZ, PPMD_STAND_IN, headerOf, made7z, repacked, withNewEnd } from './sevenzip-builder.ts';
import { PROGRAM } from './zip-builder.ts';

const list = (archive: Buffer, budget: ListingBudget = newListingBudget()) => listSevenZip(wholeSource(archive), budget)!;
const names = (l: ArchiveListing) => l.entries.map((e) => e.names.join('|')).sort();
const FILES = { 'setup.exe': PROGRAM, 'readme.txt': 'hello\n' };

/** Where the packed header of `archive` (an encoded header's one packed stream) lies, as its encoded header says. */
function packedHeaderOf(archive: Buffer): { packedAt: number; packedSize: number } {
  const c = new HeaderCursor(headerOf(archive).header);
  assert.deepEqual([c.byte(), c.byte()], [0x17, 0x06]);
  const packedAt = 32 + c.sevenZipNumber();
  assert.deepEqual([c.sevenZipNumber(), c.byte()], [1, 0x09]);
  return { packedAt, packedSize: c.sevenZipNumber() };
}

/** `archive` with its byte at `at` made `value`; if that is in the end header, the start header's CRCs made right. */
function mutated(archive: Buffer, at: number, value: number): Buffer {
  const out = Buffer.from(archive);
  out[at] = value;
  const { at: headerAt } = headerOf(archive);
  if (at >= headerAt) return withNewEnd(out, headerAt, Buffer.alloc(0), out.subarray(headerAt));
  return out;
}

describe('core/message/sevenzip-encoded-header', function () {
  this.timeout(120_000);
  before(() => ensureCommands({ '7zz': '7zip', xz: 'xz-utils' }));

  it('lists setup.exe and readme.txt in a 7z made as `7z a x.7z setup.exe readme.txt`, as with -mhc=off', () => {
    const packedHeader = made7z(FILES);
    assert.equal(headerOf(packedHeader).header[0], 0x17, '7-Zip wrote an encoded header');
    const l = list(packedHeader);
    assert.deepEqual(names(l), ['readme.txt', 'setup.exe']);
    assert.deepEqual(l.entries.map((e) => e.size).sort((a, b) => a - b), [6, PROGRAM.length]);
    assert.equal(l.unreadable, undefined);
    assert.equal(l.unlisted, undefined);
    assert.deepEqual(list(made7z(FILES, ['-mhc=off'])), l);
  });

  it('lists a default header of files in folders, UTF-16 names, an empty file, and files encrypted with -p', () => {
    const l = list(made7z({ 'tools/Счёт.exe': PROGRAM, 'empty.txt': '', 'docs/': '', 'a.txt': 'a' }, ['-ms=off']));
    assert.deepEqual(names(l), ['a.txt', 'empty.txt', 'tools/Счёт.exe']);
    const locked = list(made7z(FILES, ['-psecret']));
    assert.deepEqual(names(locked), ['readme.txt', 'setup.exe']);
    assert.equal(locked.encrypted, true);
  });

  it('makes a header encrypted with -mhe=on encrypted and unreadable, its names unread', () => {
    const l = list(made7z(FILES, ['-mhe=on', '-psecret']));
    assert.deepEqual(l.entries, []);
    assert.equal(l.encrypted, true);
    assert.match(l.unreadable!, /list of files is encrypted/);
  });

  it('lists a header packed with LZMA2, or with LZMA of other settings and an end marker (as xz writes them)', () => {
    const plain = made7z(FILES, ['-mhc=off']);
    assert.deepEqual(names(list(repacked(plain, LZMA2_BY_XZ))), ['readme.txt', 'setup.exe']);
    assert.deepEqual(names(list(repacked(plain, LZMA_BY_XZ))), ['readme.txt', 'setup.exe']);
    assert.deepEqual(names(list(repacked(plain, { ...LZMA2_BY_XZ, noCrc: true }))), ['readme.txt', 'setup.exe']);
  });

  it('leaves the names of a header packed by another coder unlisted, saying which, and not damaged', () => {
    const l = list(repacked(made7z(FILES, ['-mhc=off']), PPMD_STAND_IN));
    assert.deepEqual(l, { entries: [], encrypted: false, unlisted: 'its list of files is compressed with PPMd, which the gateway does not decompress' });
  });

  it('says unreadable for a compressed header cut short, flipped, not kept, or stating another size', () => {
    const archive = made7z(FILES);
    const { at, header } = headerOf(archive);
    const { packedAt, packedSize } = packedHeaderOf(archive);
    assert.match(list(archive.subarray(0, archive.length - 1)).unreadable!, /cut short/);
    assert.match(list(archive.subarray(0, packedAt + (packedSize >> 1))).unreadable!, /cut short/);
    // The packed header's last bytes cut out, the end header moved up to meet what is left.
    const cut = withNewEnd(archive, at - 8, Buffer.alloc(0), header);
    assert.match(list(cut).unreadable!, /compressed header is damaged|fails its CRC once decompressed/);
    const flipped = Buffer.from(archive);
    flipped[packedAt + (packedSize >> 1)] ^= 0x40;
    assert.match(list(flipped).unreadable!, /compressed header is damaged|fails its CRC once decompressed/);
    const kept = windowSource(archive.length, archive.subarray(0, 32), archive.subarray(at));
    assert.match(listSevenZip(kept, newListingBudget())!.unreadable!, /not within the part of the attachment that was kept/);
    const plain = made7z(FILES, ['-mhc=off']);
    const plainSize = headerOf(plain).header.length;
    assert.match(list(repacked(plain, { ...LZMA2_BY_XZ, statedSize: plainSize + 1 })).unreadable!, /compressed header is damaged \(it ends after/);
    assert.match(list(repacked(plain, { ...LZMA2_BY_XZ, statedSize: plainSize - 1 })).unreadable!, /compressed header is damaged \(it holds more/);
    assert.match(list(repacked(plain, { ...LZMA_BY_XZ, statedSize: plainSize + 1 })).unreadable!, /compressed header is damaged \(it ends after/);
  });

  it('refuses a header stated over the cap or the budget before allocating it, and pays the budget for what it reads', () => {
    const plain = made7z(FILES, ['-mhc=off']);
    const huge = list(repacked(plain, { ...LZMA2_BY_XZ, statedSize: MAX_DECODED_HEADER + 1 }));
    assert.match(huge.unreadable!, new RegExp(`would decompress to ${MAX_DECODED_HEADER + 1} bytes, over the ${MAX_DECODED_HEADER}`));
    const archive = made7z(FILES);
    const { header } = headerOf(archive);
    assert.match(list(archive, { entries: 100, bytes: header.length + 10 }).unreadable!, /over what the gateway reads/);
    const budget = newListingBudget();
    list(archive, budget);
    const decodedSize = headerOf(plain).header.length;
    assert.equal(newListingBudget().bytes - budget.bytes, header.length + packedHeaderOf(archive).packedSize + decodedSize);
    assert.equal(newListingBudget().entries - budget.entries, 2);
  });

  it('says damaged when what the header unpacks to is another compressed header (7-Zip nests none)', () => {
    const nested = repacked(made7z(FILES), LZMA2_BY_XZ);
    assert.match(list(nested).unreadable!, /header is damaged \(it starts with property 23\)/);
  });

  it('lists the 5,000 names of a large compressed header', () => {
    const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`folder-${i % 50}/document-number-${i}.txt`, `${i}`]));
    const l = list(made7z(many));
    assert.equal(l.entries.length, 5000);
    assert.equal(l.unreadable, undefined);
    assert.ok(names(l).includes('folder-49/document-number-4999.txt'));
  });

  it('ends each of 600 seeded mutations of real archives in a listing or unreadable, and trusts none that fails a CRC', () => {
    const withCrc = made7z(FILES);
    const withoutCrc = repacked(made7z(FILES, ['-mhc=off']), { ...LZMA_BY_XZ, noCrc: true });
    let seed = 0x7a35;
    const next = (below: number) => { seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return seed % below; };
    const tally = { listed: 0, unreadable: 0, unlisted: 0 };
    for (const [label, archive, guarded] of [['crc', withCrc, true], ['no-crc', withoutCrc, false]] as const) {
      const { at } = headerOf(archive);
      // From the packed files' end (where the packed header starts) to the end of the archive.
      const from = Math.max(32, at - 80);
      for (let i = 0; i < 300; i++) {
        const where = from + next(archive.length - from);
        const value = next(256);
        const case_ = `${label} #${i}: byte ${where} made ${value}`;
        let l: ArchiveListing;
        try { l = list(mutated(archive, where, value)); } catch (err) { assert.fail(`${case_}: threw ${String(err)}`); }
        assert.ok(Array.isArray(l.entries), case_);
        if (l.unreadable !== undefined) tally.unreadable++;
        else if (l.unlisted !== undefined) tally.unlisted++;
        else {
          tally.listed++;
          // With the unpacked header's CRC given, a change that still lists must have left the names as they were.
          if (guarded) assert.deepEqual(names(l), ['readme.txt', 'setup.exe'], `${case_}: ${JSON.stringify(names(l))}`);
        }
      }
    }
    assert.equal(tally.listed + tally.unreadable + tally.unlisted, 600);
    assert.ok(tally.unreadable > 100, `few mutations found damaged: ${JSON.stringify(tally)}`);
  });

  it('checks the unpacked header against the CRC 7-Zip gives it', () => {
    const archive = made7z(FILES);
    const { at, header } = headerOf(archive);
    const crcAt = header.indexOf(Buffer.from([0x0a, 0x01])) + 2;
    const wrong = Buffer.from(header);
    wrong.writeUInt32LE((crc32(Buffer.from('not the header')) ^ wrong.readUInt32LE(crcAt)) >>> 0, crcAt);
    assert.match(list(withNewEnd(archive, at, Buffer.alloc(0), wrong)).unreadable!, /fails its CRC once decompressed/);
  });
});

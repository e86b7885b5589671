// The names inside a 7z archive, read from its header: the start header (32 bytes) points at the header at the end,
// which lists the streams, how they are coded, and then the files. 7-Zip compresses that header by default (an
// "encoded header"): it is decompressed first when LZMA or LZMA2 packed it (sevenzip-encoded-header.ts), then read as a
// plain header (`7z -mhc=off`, and some other writers) is. A header encrypted with AES (`7z -mhe=on`) makes the archive
// encrypted and `unreadable`, as a ZIP with an encrypted directory is; one packed by another coder leaves it
// `unlisted`. The header is paid from the message's listing budget, its CRC is checked, and each count in it is
// checked against the bytes left in it; a damaged compressed stream is `unreadable`, never an exception.
import { crc32 } from 'node:zlib';
import { readExactly, type ByteSource } from './byte-source.ts';
import { HeaderCursor, HeaderDamaged } from './header-cursor.ts';
import { LzmaDamaged } from './range-decoder.ts';
import { decodeEncodedHeader } from './sevenzip-encoded-header.ts';
import { END, count, readStreams, type Streams } from './sevenzip-streams.ts';
import { ARCHIVE_MAX_BYTES, ARCHIVE_MAX_ENTRIES, type ArchiveEntry, type ArchiveListing, type ListingBudget } from './zip-listing.ts';

const SIGNATURE = Buffer.from('377abcaf271c', 'hex');
const START_HEADER = 32;

// Property ids of the header (7-Zip's 7zFormat.txt); those of its streams are in sevenzip-streams.ts.
const HEADER = 0x01;
const ARCHIVE_PROPERTIES = 0x02;
const ADDITIONAL_STREAMS = 0x03;
const MAIN_STREAMS = 0x04;
const FILES_INFO = 0x05;
const EMPTY_STREAM = 0x0e;
const EMPTY_FILE = 0x0f;
const ANTI = 0x10;
const NAME = 0x11;
const ENCODED_HEADER = 0x17;

const unreadable = (why: string): ArchiveListing => ({ entries: [], encrypted: false, unreadable: why });

/** The listing of the 7z archive in `src`, or undefined when its first bytes are no 7z signature. */
export function listSevenZip(src: ByteSource, budget: ListingBudget): ArchiveListing | undefined {
  const start = readExactly(src, 0, START_HEADER);
  if (!start || !start.subarray(0, SIGNATURE.length).equals(SIGNATURE)) return undefined;
  const offset = start.readBigUInt64LE(12);
  const size = start.readBigUInt64LE(20);
  if (size === 0n) return { entries: [], encrypted: false };
  const at = BigInt(START_HEADER) + offset;
  if (at + size > BigInt(src.size)) return unreadable('it is cut short: its header lies past its end');
  if (Number(size) > budget.bytes) return unreadable(`its header is over what the gateway reads of a message's archives (${ARCHIVE_MAX_BYTES} bytes in all)`);
  const header = readExactly(src, Number(at), Number(size));
  if (!header) return unreadable('its header is not within the part of the attachment that was kept');
  budget.bytes -= header.length;
  if (crc32(header) !== start.readUInt32LE(28)) return unreadable('its header fails its CRC');
  try {
    const c = new HeaderCursor(header);
    const kind = c.byte();
    if (kind !== ENCODED_HEADER) return readHeader(kind, c, budget);
    const decoded = decodeEncodedHeader(readStreams(c), src, budget);
    if (!Buffer.isBuffer(decoded)) return decoded;
    // What an encoded header unpacks to is a plain header: 7-Zip does not nest them either.
    const plain = new HeaderCursor(decoded);
    return readHeader(plain.byte(), plain, budget);
  } catch (err) {
    if (err instanceof LzmaDamaged) return unreadable(`its compressed header is damaged (${err.message})`);
    if (!(err instanceof HeaderDamaged)) throw err;
    return unreadable(`its header is damaged (${err.message})`);
  }
}

/** A plain header, its first byte (`kind`) read. */
function readHeader(kind: number, c: HeaderCursor, budget: ListingBudget): ArchiveListing {
  if (kind !== HEADER) throw new HeaderDamaged(`it starts with property ${kind}`);
  let id = c.byte();
  if (id === ARCHIVE_PROPERTIES) {
    for (let type = c.byte(); type !== END; type = c.byte()) c.skip(c.sevenZipNumber());
    id = c.byte();
  }
  if (id === ADDITIONAL_STREAMS) { readStreams(c); id = c.byte(); }
  let streams: Streams = { packPosition: 0, packSizes: [], folders: [], streamsPerFolder: [], sizes: [] };
  if (id === MAIN_STREAMS) { streams = readStreams(c); id = c.byte(); }
  let listing: ArchiveListing = { entries: [], encrypted: false };
  if (id === FILES_INFO) { listing = readFiles(c, streams, budget); id = c.byte(); }
  if (id !== END && !listing.unreadable) throw new HeaderDamaged(`property ${id} where the header should end`);
  return listing;
}

function readFiles(c: HeaderCursor, streams: Streams, budget: ListingBudget): ArchiveListing {
  const out: ArchiveListing = { entries: [], encrypted: false };
  const n = count(c);
  let emptyStream: boolean[] = [];
  let emptyFile: boolean[] = [];
  let anti: boolean[] = [];
  let names: string[] | undefined;
  for (let type = c.sevenZipNumber(); type !== END; type = c.sevenZipNumber()) {
    const p = new HeaderCursor(c.take(c.sevenZipNumber()));
    const empties = emptyStream.filter(Boolean).length;
    if (type === EMPTY_STREAM) emptyStream = p.bits(n);
    else if (type === EMPTY_FILE) emptyFile = p.bits(empties);
    else if (type === ANTI) anti = p.bits(empties);
    else if (type === NAME) {
      if (p.byte() !== 0) throw new HeaderDamaged('its names are stored elsewhere');
      // Each name ends in a zero character: what follows the last one is no name.
      const text = p.take(p.remaining & ~1).toString('utf16le');
      names = text.split('\0').slice(0, -1).slice(0, n);
      if (names.length < n) throw new HeaderDamaged(`it names ${names.length} of its ${n} files`);
    }
    // Times, attributes, padding and later kinds say nothing of names.
  }
  if (!names) throw new HeaderDamaged('its files have no names');
  let folder = 0;
  let inFolder = 0;
  let stream = 0;
  let empty = 0;
  for (let i = 0; i < n; i++) {
    let entry: ArchiveEntry;
    if (emptyStream[i]) {
      const e = empty++;
      // An empty stream is a folder unless it is marked an empty file; an anti item deletes a file on update.
      if (!emptyFile[e] || anti[e]) continue;
      entry = { names: [names[i]], size: 0, encrypted: false };
    } else {
      while (folder < streams.folders.length && inFolder >= streams.streamsPerFolder[folder]) { folder++; inFolder = 0; }
      if (folder >= streams.folders.length || stream >= streams.sizes.length) throw new HeaderDamaged('it lists more files than streams');
      inFolder++;
      entry = { names: [names[i]], size: streams.sizes[stream++], encrypted: streams.folders[folder].encrypted };
      if (entry.encrypted) out.encrypted = true;
    }
    if (budget.entries <= 0) { out.unreadable = `it holds more entries than the gateway lists in a message (${ARCHIVE_MAX_ENTRIES} in all)`; break; }
    budget.entries--;
    out.entries.push(entry);
  }
  return out;
}

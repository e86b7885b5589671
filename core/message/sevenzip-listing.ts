// The names inside a 7z archive, read from its header: the start header (32 bytes) points at the header at the end,
// which lists the streams, how they are coded, and then the files. 7-Zip compresses that header by default (an
// "encoded header", LZMA): the gateway does not decompress it, so such an archive is `unlisted` (its own detected type
// application/x-7z-compressed and the unlisted-archive type are what a rule can ask of it), unless the header's coders
// include AES (`7z -mhe=on`): then it is encrypted and `unreadable`, as a ZIP with an encrypted directory is. A plain
// header (`7z -mhc=off`, and some other writers) is read in full. The header is paid from the message's listing
// budget, its CRC is checked, and each count in it is checked against the bytes left in it.
import { crc32 } from 'node:zlib';
import { readExactly, type ByteSource } from './byte-source.ts';
import { HeaderCursor, HeaderDamaged } from './header-cursor.ts';
import { ARCHIVE_MAX_BYTES, ARCHIVE_MAX_ENTRIES, type ArchiveEntry, type ArchiveListing, type ListingBudget } from './zip-listing.ts';

const SIGNATURE = Buffer.from('377abcaf271c', 'hex');
const START_HEADER = 32;

// Property ids of the header (7-Zip's 7zFormat.txt).
const END = 0x00;
const HEADER = 0x01;
const ARCHIVE_PROPERTIES = 0x02;
const ADDITIONAL_STREAMS = 0x03;
const MAIN_STREAMS = 0x04;
const FILES_INFO = 0x05;
const PACK_INFO = 0x06;
const UNPACK_INFO = 0x07;
const SUBSTREAMS_INFO = 0x08;
const SIZE = 0x09;
const CRC = 0x0a;
const FOLDER = 0x0b;
const CODERS_UNPACK_SIZE = 0x0c;
const NUM_UNPACK_STREAM = 0x0d;
const EMPTY_STREAM = 0x0e;
const EMPTY_FILE = 0x0f;
const ANTI = 0x10;
const NAME = 0x11;
const ENCODED_HEADER = 0x17;

const AES = Buffer.from('06f10701', 'hex');
/** 7-Zip's own bound on the coders of a folder. */
const MAX_CODERS = 64;

/** A folder: coders whose output is one or more files' bytes one after the other. */
interface Folder { outputs: number; mainOutput: number; encrypted: boolean; size: number; crcKnown: boolean }
interface Streams { folders: Folder[]; streamsPerFolder: number[]; sizes: number[] }

export const UNLISTED_7Z = 'its list of files is compressed (as 7-Zip writes it by default), and the gateway does not decompress it';

/** The listing of the 7z archive in `src`, or undefined when its first bytes are no 7z signature. */
export function listSevenZip(src: ByteSource, budget: ListingBudget): ArchiveListing | undefined {
  const start = readExactly(src, 0, START_HEADER);
  if (!start || !start.subarray(0, SIGNATURE.length).equals(SIGNATURE)) return undefined;
  const unreadable = (why: string, encrypted = false): ArchiveListing => ({ entries: [], encrypted, unreadable: why });
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
    return readHeader(new HeaderCursor(header), budget);
  } catch (err) {
    if (!(err instanceof HeaderDamaged)) throw err;
    return unreadable(`its header is damaged (${err.message})`);
  }
}

function readHeader(c: HeaderCursor, budget: ListingBudget): ArchiveListing {
  const kind = c.byte();
  if (kind === ENCODED_HEADER) {
    const streams = readStreams(c);
    if (streams.folders.some((f) => f.encrypted)) return { entries: [], encrypted: true, unreadable: 'its list of files is encrypted (7z -mhe): not even the names in it can be read' };
    return { entries: [], encrypted: false, unlisted: UNLISTED_7Z };
  }
  if (kind !== HEADER) throw new HeaderDamaged(`it starts with property ${kind}`);
  let id = c.byte();
  if (id === ARCHIVE_PROPERTIES) {
    for (let type = c.byte(); type !== END; type = c.byte()) c.skip(c.sevenZipNumber());
    id = c.byte();
  }
  if (id === ADDITIONAL_STREAMS) { readStreams(c); id = c.byte(); }
  let streams: Streams = { folders: [], streamsPerFolder: [], sizes: [] };
  if (id === MAIN_STREAMS) { streams = readStreams(c); id = c.byte(); }
  let listing: ArchiveListing = { entries: [], encrypted: false };
  if (id === FILES_INFO) { listing = readFiles(c, streams, budget); id = c.byte(); }
  if (id !== END && !listing.unreadable) throw new HeaderDamaged(`property ${id} where the header should end`);
  return listing;
}

/** A count of things each taking at least a byte of what is left: more is a header that lies. */
function count(c: HeaderCursor): number {
  const n = c.sevenZipNumber();
  if (n > c.remaining) throw new HeaderDamaged(`it counts ${n} items in ${c.remaining} bytes`);
  return n;
}

function expect(c: HeaderCursor, id: number): void {
  const got = c.byte();
  if (got !== id) throw new HeaderDamaged(`property ${got} where ${id} belongs`);
}

/** Skips a list of CRCs of `n` items, some or all of them given; says which are. */
function readDigests(c: HeaderCursor, n: number): boolean[] {
  const given = c.byte() ? new Array<boolean>(n).fill(true) : c.bits(n);
  c.skip(4 * given.filter(Boolean).length);
  return given;
}

function readStreams(c: HeaderCursor): Streams {
  const streams: Streams = { folders: [], streamsPerFolder: [], sizes: [] };
  let id = c.byte();
  if (id === PACK_INFO) {
    c.sevenZipNumber(); // where the packed streams start
    const packed = count(c);
    for (let sub = c.byte(); sub !== END; sub = c.byte()) {
      if (sub === SIZE) for (let i = 0; i < packed; i++) c.sevenZipNumber();
      else if (sub === CRC) readDigests(c, packed);
      else throw new HeaderDamaged(`property ${sub} in the packed streams`);
    }
    id = c.byte();
  }
  if (id === UNPACK_INFO) {
    expect(c, FOLDER);
    const n = count(c);
    if (c.byte() !== 0) throw new HeaderDamaged('its folders are stored elsewhere');
    for (let i = 0; i < n; i++) streams.folders.push(readFolder(c));
    expect(c, CODERS_UNPACK_SIZE);
    for (const f of streams.folders) {
      for (let o = 0; o < f.outputs; o++) {
        const size = c.sevenZipNumber();
        if (o === f.mainOutput) f.size = size;
      }
    }
    for (let sub = c.byte(); sub !== END; sub = c.byte()) {
      if (sub !== CRC) throw new HeaderDamaged(`property ${sub} in the folders`);
      readDigests(c, n).forEach((known, i) => { streams.folders[i].crcKnown = known; });
    }
    id = c.byte();
  }
  streams.streamsPerFolder = streams.folders.map(() => 1);
  if (id === SUBSTREAMS_INFO) {
    let sub = c.byte();
    if (sub === NUM_UNPACK_STREAM) {
      let total = 0;
      streams.streamsPerFolder = streams.folders.map(() => { const n = count(c); total += n; return n; });
      if (total > c.remaining) throw new HeaderDamaged(`it counts ${total} files' streams in ${c.remaining} bytes`);
      sub = c.byte();
    }
    const explicit = sub === SIZE;
    streams.folders.forEach((f, i) => {
      const n = streams.streamsPerFolder[i];
      if (n === 0) return;
      if (n > 1 && !explicit) throw new HeaderDamaged('a folder of many files gives no sizes');
      let sum = 0;
      for (let k = 1; k < n; k++) { const s = c.sevenZipNumber(); sum += s; streams.sizes.push(s); }
      if (sum > f.size) throw new HeaderDamaged('its files are larger than their folder');
      streams.sizes.push(f.size - sum);
    });
    if (explicit) sub = c.byte();
    for (; sub !== END; sub = c.byte()) {
      if (sub !== CRC) throw new HeaderDamaged(`property ${sub} in the files' streams`);
      const unknown = streams.folders.reduce((t, f, i) => t + (streams.streamsPerFolder[i] === 1 && f.crcKnown ? 0 : streams.streamsPerFolder[i]), 0);
      readDigests(c, unknown);
    }
    id = c.byte();
  } else {
    streams.sizes = streams.folders.map((f) => f.size);
  }
  if (id !== END) throw new HeaderDamaged(`property ${id} where the streams should end`);
  return streams;
}

function readFolder(c: HeaderCursor): Folder {
  const coders = c.sevenZipNumber();
  if (coders === 0 || coders > MAX_CODERS) throw new HeaderDamaged(`a folder of ${coders} coders`);
  let inputs = 0;
  let outputs = 0;
  let encrypted = false;
  for (let i = 0; i < coders; i++) {
    const flags = c.byte();
    if (flags & 0x80) throw new HeaderDamaged('a coder with alternative methods');
    if (c.take(flags & 0x0f).equals(AES)) encrypted = true;
    if (flags & 0x10) { inputs += count(c); outputs += count(c); } else { inputs++; outputs++; }
    if (flags & 0x20) c.skip(c.sevenZipNumber());
  }
  if (outputs === 0) throw new HeaderDamaged('a folder without output');
  const bound = new Set<number>();
  for (let i = 0; i < outputs - 1; i++) { c.sevenZipNumber(); bound.add(c.sevenZipNumber()); }
  const packed = inputs - (outputs - 1);
  if (packed < 1) throw new HeaderDamaged('a folder without packed input');
  if (packed > 1) for (let i = 0; i < packed; i++) c.sevenZipNumber();
  let mainOutput = 0;
  while (bound.has(mainOutput)) mainOutput++;
  return { outputs, mainOutput, encrypted, size: 0, crcKnown: false };
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

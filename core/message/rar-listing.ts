// The names inside a RAR archive, RAR 1.5 to 4.x and RAR 5, read from the header each file carries in front of its
// data: nothing is decompressed. RAR has no directory at its end, so the headers are walked from the start, each one
// saying how far the next one is; a walk bounded by the message's listing budget (bytes of headers read, files listed)
// and by a count of headers, so a hostile archive can neither loop nor make the gateway allocate at will. What stops
// the walk early (headers encrypted with `rar -hp`, a header cut short or not kept, the budget) makes the listing
// `unreadable`, the files read before it still listed. Of a multi-volume archive this is the first volume's list.
import { readExactly, type ByteSource } from './byte-source.ts';
import { HeaderCursor, HeaderDamaged } from './header-cursor.ts';
import { ARCHIVE_MAX_BYTES, ARCHIVE_MAX_ENTRIES, cp437, type ArchiveEntry, type ArchiveListing, type ListingBudget } from './zip-listing.ts';

const RAR4_SIGNATURE = Buffer.from('Rar!\x1a\x07\x00', 'latin1');
const RAR5_SIGNATURE = Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1');

/** Headers walked in one archive, files or not: a file brings a few service headers (ACL, streams) at most. */
export const RAR_MAX_HEADERS = 4 * ARCHIVE_MAX_ENTRIES;
/** unrar reads no RAR 5 header larger than this. */
const RAR5_MAX_HEADER = 2 * 1024 * 1024;
/** Characters of a RAR 4 Unicode name decoded: unrar's own bound on a name is below this. */
const RAR4_MAX_NAME = 4096;

/** What one header says: where the next starts, the file it describes, or that the walk ends here. */
type Step =
  | { next: number; entry?: ArchiveEntry; directory?: boolean }
  | { end: true }
  | { stop: string; encrypted?: boolean };

type ReadHeader = (src: ByteSource, at: number) => Step & { cost: number };

/** The listing of the RAR archive in `src`, or undefined when its first bytes are no RAR signature. */
export function listRar(src: ByteSource, budget: ListingBudget): ArchiveListing | undefined {
  const head = src.readUpTo(0, RAR5_SIGNATURE.length);
  if (!head) return undefined;
  if (head.length === RAR5_SIGNATURE.length && head.equals(RAR5_SIGNATURE)) return walk(src, budget, RAR5_SIGNATURE.length, rar5Header);
  if (head.length >= RAR4_SIGNATURE.length && head.subarray(0, RAR4_SIGNATURE.length).equals(RAR4_SIGNATURE)) return walk(src, budget, RAR4_SIGNATURE.length, rar4Block);
  return undefined;
}

function walk(src: ByteSource, budget: ListingBudget, start: number, read: ReadHeader): ArchiveListing {
  const out: ArchiveListing = { entries: [], encrypted: false };
  let at = start;
  for (let headers = 0; ; headers++) {
    // Old RAR versions may end without an end-of-archive header: ending cleanly between headers is an end too.
    if (at === src.size) return out;
    if (at > src.size) { out.unreadable = `it is cut short: a file's data runs past its end after ${out.entries.length} files`; return out; }
    if (headers >= RAR_MAX_HEADERS) { out.unreadable = `it holds more headers than the gateway walks in one archive (${RAR_MAX_HEADERS})`; return out; }
    let step: ReturnType<ReadHeader>;
    try {
      step = read(src, at);
    } catch (err) {
      if (!(err instanceof HeaderDamaged)) throw err;
      out.unreadable = `its header at byte ${at} is damaged (${err.message})`;
      return out;
    }
    if (step.cost > budget.bytes) { out.unreadable = `its headers are over what the gateway reads of a message's archives (${ARCHIVE_MAX_BYTES} bytes in all)`; return out; }
    budget.bytes -= step.cost;
    if ('end' in step) return out;
    if ('stop' in step) {
      out.unreadable = step.stop;
      if (step.encrypted) out.encrypted = true;
      return out;
    }
    if (step.entry) {
      if (step.entry.encrypted) out.encrypted = true;
      if (!step.directory) {
        if (budget.entries <= 0) { out.unreadable = `it holds more entries than the gateway lists in a message (${ARCHIVE_MAX_ENTRIES} in all)`; return out; }
        budget.entries--;
        out.entries.push(step.entry);
      }
    }
    at = step.next;
  }
}

/** The bytes of a header, or why they cannot be had: past the end of the file, or in a part of it not kept. */
function headerBytes(src: ByteSource, at: number, length: number): Buffer | { stop: string } {
  return readExactly(src, at, length) ?? missing(src, at, length);
}

/** Why the `length` bytes of a header at `at` cannot be read. */
function missing(src: ByteSource, at: number, length: number): { stop: string } {
  if (at + length > src.size) return { stop: `it is cut short: its header at byte ${at} runs past its end` };
  return { stop: `its header at byte ${at} is not within the part of the attachment that was kept` };
}

// RAR 5 (rarlab.com technote "RAR 5.0 archive format"): each header is CRC32, a vint size, then that many bytes:
// type, flags, the extra area's size and the data area's size when the flags say so, fields of its type, extra area.
const RAR5_FILE = 2;
const RAR5_ENCRYPTION = 4;
const RAR5_END = 5;
const RAR5_HAS_EXTRA = 0x1;
const RAR5_HAS_DATA = 0x2;
const RAR5_FILE_DIRECTORY = 0x1;
const RAR5_FILE_TIME = 0x2;
const RAR5_FILE_CRC = 0x4;
const RAR5_EXTRA_ENCRYPTION = 0x1;

function rar5Header(src: ByteSource, at: number): Step & { cost: number } {
  // The size is a vint of at most three bytes (RAR5_MAX_HEADER); a fourth is read so that a longer one is seen.
  const start = src.readUpTo(at, 4 + 4);
  if (!start || start.length < 5) return { cost: 0, ...missing(src, at, 5) };
  const sizeField = new HeaderCursor(start.subarray(4));
  const size = sizeField.rarVint();
  const sizeLength = start.length - 4 - sizeField.remaining;
  if (size === 0 || size > RAR5_MAX_HEADER) throw new HeaderDamaged(`it states a header of ${size} bytes`);
  const bytes = headerBytes(src, at + 4 + sizeLength, size);
  if (!Buffer.isBuffer(bytes)) return { cost: 0, ...bytes };
  const cost = 4 + sizeLength + size;
  const c = new HeaderCursor(bytes);
  const type = c.rarVint();
  const flags = c.rarVint();
  const extraSize = flags & RAR5_HAS_EXTRA ? c.rarVint() : 0;
  const dataSize = flags & RAR5_HAS_DATA ? c.rarVint() : 0;
  const next = at + cost + dataSize;
  if (type === RAR5_END) return { cost, end: true };
  // Every header after this one is encrypted: not even the names can be read without the password.
  if (type === RAR5_ENCRYPTION) return { cost, stop: 'its headers are encrypted (rar -hp): not even the names in it can be read', encrypted: true };
  if (type !== RAR5_FILE) return { cost, next }; // the main archive header, service headers (comment, ACL, streams, recovery), and any later kind
  if (extraSize > bytes.length) throw new HeaderDamaged('its extra area is larger than the header');
  const fileFlags = c.rarVint();
  const unpacked = c.rarVint();
  c.rarVint(); // attributes
  if (fileFlags & RAR5_FILE_TIME) c.skip(4);
  if (fileFlags & RAR5_FILE_CRC) c.skip(4);
  c.rarVint(); // compression
  c.rarVint(); // host system
  const name = c.take(c.rarVint()).toString('utf8');
  const encrypted = rar5Encrypted(bytes.subarray(bytes.length - extraSize));
  return { cost, next, directory: (fileFlags & RAR5_FILE_DIRECTORY) !== 0, entry: { names: [name], size: unpacked, encrypted } };
}

/** Whether a file header's extra area holds an encryption record: its data is encrypted. */
function rar5Encrypted(extra: Buffer): boolean {
  const c = new HeaderCursor(extra);
  while (c.remaining > 0) {
    const record = new HeaderCursor(c.take(c.rarVint()));
    if (record.rarVint() === RAR5_EXTRA_ENCRYPTION) return true;
  }
  return false;
}

// RAR 1.5 to 4.x (RAR's technote of those versions): each block is HEAD_CRC (2 bytes), HEAD_TYPE (1), HEAD_FLAGS (2),
// HEAD_SIZE (2), then, when flag 0x8000 is set, ADD_SIZE (4) bytes of data after the header. A file header's ADD_SIZE
// is its PACK_SIZE, and with flag 0x100 a high 32 bits of it follow the fixed fields.
const RAR4_BLOCK = 7;
const RAR4_ARCHIVE = 0x73;
const RAR4_FILE = 0x74;
const RAR4_SERVICE = 0x7a;
const RAR4_END = 0x7b;
const RAR4_LONG_BLOCK = 0x8000;
const RAR4_HEADERS_ENCRYPTED = 0x80;
const RAR4_FILE_ENCRYPTED = 0x4;
const RAR4_FILE_DIRECTORY = 0xe0;
const RAR4_FILE_LARGE = 0x100;
const RAR4_FILE_UNICODE = 0x200;
const RAR4_FILE_FIXED = 32;

function rar4Block(src: ByteSource, at: number): Step & { cost: number } {
  const base = headerBytes(src, at, RAR4_BLOCK);
  if (!Buffer.isBuffer(base)) return { cost: 0, ...base };
  const type = base[2];
  const flags = base.readUInt16LE(3);
  const size = base.readUInt16LE(5);
  if (size < RAR4_BLOCK) throw new HeaderDamaged(`it states a block of ${size} bytes`);
  const bytes = headerBytes(src, at, size);
  if (!Buffer.isBuffer(bytes)) return { cost: 0, ...bytes };
  if (type === RAR4_END) return { cost: size, end: true };
  if (type === RAR4_ARCHIVE && flags & RAR4_HEADERS_ENCRYPTED) {
    return { cost: size, stop: 'its headers are encrypted (rar -hp): not even the names in it can be read', encrypted: true };
  }
  if (type !== RAR4_FILE && type !== RAR4_SERVICE) {
    if (!(flags & RAR4_LONG_BLOCK)) return { cost: size, next: at + size };
    if (size < RAR4_BLOCK + 4) throw new HeaderDamaged('its block is too short for the size of its data');
    return { cost: size, next: at + size + bytes.readUInt32LE(RAR4_BLOCK) };
  }
  const c = new HeaderCursor(bytes);
  c.skip(RAR4_BLOCK);
  let packed = c.u32();
  let unpacked = c.u32();
  c.skip(1 + 4 + 4 + 1 + 1); // host system, CRC, time, version, method
  const nameSize = c.take(2).readUInt16LE(0);
  c.skip(4); // attributes
  if (flags & RAR4_FILE_LARGE) {
    packed += c.u32() * 2 ** 32;
    unpacked += c.u32() * 2 ** 32;
  }
  const rawName = c.take(nameSize);
  const next = at + size + packed;
  // Service blocks (comment, ACL, streams) are named `CMT`, `ACL`, `STM`: no file a recipient extracts.
  if (type === RAR4_SERVICE) return { cost: size, next };
  const encrypted = (flags & RAR4_FILE_ENCRYPTED) !== 0;
  const directory = (flags & RAR4_FILE_DIRECTORY) === RAR4_FILE_DIRECTORY;
  return { cost: size, next, directory, entry: { names: rar4Names(rawName, (flags & RAR4_FILE_UNICODE) !== 0), size: unpacked, encrypted } };
}

/**
 * The names a RAR 4 file header gives: with the Unicode flag, the name in the OEM code page, a zero byte, then the
 * Unicode name packed against it (unrar extracts under that one), or, with no zero byte, the name in UTF-8; without
 * the flag, the OEM name alone (read both as code page 437 and, where the bytes are UTF-8, as UTF-8: RAR for Unix
 * writes the local charset there).
 */
function rar4Names(raw: Buffer, unicode: boolean): string[] {
  const zero = raw.indexOf(0);
  if (unicode && zero < 0) return [raw.toString('utf8')];
  if (unicode) {
    const oem = raw.subarray(0, zero);
    return [...new Set([rar4UnicodeName(oem, raw.subarray(zero + 1)), cp437(oem)])];
  }
  const utf8 = raw.toString('utf8');
  return [...new Set([cp437(raw), ...(utf8.includes('\ufffd') ? [] : [utf8])])];
}

/**
 * RAR 4's packed Unicode name. Its first byte is a high byte shared by many characters; then a flag byte gives the
 * kind of each of the next four characters or runs, two bits each, high bits first: 0 one byte (high byte zero),
 * 1 one byte under the shared high byte, 2 two bytes (little-endian), 3 a run copied from the OEM name at the same
 * position: a length byte (+2 characters), and when its top bit is set a correction byte added to each OEM byte, which
 * then goes under the shared high byte.
 */
function rar4UnicodeName(oem: Buffer, packed: Buffer): string {
  const units: number[] = [];
  const high = (packed[0] ?? 0) << 8;
  let at = 1;
  let flags = 0;
  let kinds = 0;
  const oemAt = (i: number) => oem[i] ?? 0;
  while (at < packed.length && units.length < RAR4_MAX_NAME) {
    if (kinds === 0) { flags = packed[at++]; kinds = 4; }
    const kind = flags >> 6;
    flags = (flags << 2) & 0xff;
    kinds--;
    if (at >= packed.length) break;
    if (kind === 0) units.push(packed[at++]);
    else if (kind === 1) units.push(high | packed[at++]);
    else if (kind === 2) {
      if (at + 1 >= packed.length) break;
      units.push(packed.readUInt16LE(at));
      at += 2;
    } else {
      const run = packed[at++];
      if (run & 0x80) {
        if (at >= packed.length) break;
        const correction = packed[at++];
        for (let n = (run & 0x7f) + 2; n > 0 && units.length < RAR4_MAX_NAME; n--) units.push(high | ((oemAt(units.length) + correction) & 0xff));
      } else {
        for (let n = run + 2; n > 0 && units.length < RAR4_MAX_NAME; n--) units.push(oemAt(units.length));
      }
    }
  }
  const end = units.indexOf(0);
  return String.fromCharCode(...(end < 0 ? units : units.slice(0, end)));
}

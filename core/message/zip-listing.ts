// The names inside a ZIP archive, read from its central directory: a mail filter that judges attachments by name
// would otherwise pass setup.exe sent as docs.zip. Only an entry that is an archive itself is decompressed, to list
// the names in it in turn (zip-entry-content.ts). The input is the sender's, so every count and offset in it is
// checked against the bytes really there, the work is one pass over the directory, and a message's archives together
// are held to a budget of entries, bytes and inflated bytes (ListingBudget); what cannot be read in full is reported
// as such (`unreadable`), never taken for an empty or harmless archive.
import { readExactly, type ByteSource } from './byte-source.ts';
import { detectFileType, MAGIC_HEAD_BYTES } from './file-magic.ts';
import { ARCHIVE_MAX_FIRST_LOOKS, ARCHIVE_MAX_INFLATED, entryData, innerArchive } from './zip-entry-content.ts';

export interface ArchiveEntry {
  /** The entry's path as stored (`docs/setup.exe`), then any other name it carries (the Info-ZIP Unicode path). */
  names: string[];
  /** Its size once extracted, as the directory states it. */
  size: number;
  /** The entry is encrypted: its content cannot be scanned. */
  encrypted: boolean;
  /** The type its first bytes say (file-magic.ts), for an entry stored without compression whose bytes were kept. */
  detectedType?: string;
  /** For an entry of an archive stored in this one: the path of that archive, outermost first. */
  within?: string[];
}

export interface ArchiveListing {
  entries: ArchiveEntry[];
  /** Some entry is encrypted. */
  encrypted: boolean;
  /** Why the directory could not be read in full (the entries read so far are still listed); absent when it was. */
  unreadable?: string;
  /**
   * Why the names in it were not read at all, though nothing says the archive is damaged (a 7z whose list of files is
   * compressed, see sevenzip-listing.ts); absent when they were.
   */
  unlisted?: string;
}

/** What the archives of one message may cost together; each listing takes its share. */
export interface ListingBudget {
  entries: number;
  bytes: number;
  /**
   * Bytes inflated to list archives compressed in archives (zip-entry-content.ts); absent, none are (a budget made
   * for a reader of RAR or 7z alone, which inflates nothing).
   */
  inflated?: number;
  /**
   * Compressed entries not named as archives whose first bytes may still be inflated, to see whether they are one
   * (zip-entry-content.ts); absent, none may.
   */
  firstLooks?: number;
}

/** Entries listed, over all the archives of a message. */
export const ARCHIVE_MAX_ENTRIES = 10_000;
/** Directory and end-record bytes read, over all the archives of a message. */
export const ARCHIVE_MAX_BYTES = 8 * 1024 * 1024;
/** Archives in an archive, stored or deflated, are listed too, to this depth: the attachment is 1. */
const ARCHIVE_MAX_DEPTH = 2;

export const newListingBudget = (): ListingBudget => ({
  entries: ARCHIVE_MAX_ENTRIES, bytes: ARCHIVE_MAX_BYTES, inflated: ARCHIVE_MAX_INFLATED, firstLooks: ARCHIVE_MAX_FIRST_LOOKS,
});

/**
 * Lists an archive found in a ZIP, of whatever format `detectedType` names, one level deeper; archive-listing.ts
 * gives the readers of every format, and without it only ZIPs in ZIPs are listed.
 */
export type InnerLister = (src: ByteSource, detectedType: string | undefined) => ArchiveListing | undefined;

const EOCD = Buffer.from('PK\x05\x06', 'latin1');
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const CENTRAL_SIZE = 46;
const STORED = 0;
/**
 * End-record signatures tried, from the last one back: a comment may hold the bytes of false ones. Each costs a few
 * small reads; an end holding more than this is an archive hiding its own record (findDirectory), and a file that is
 * no archive rarely holds even one.
 */
export const MAX_CANDIDATES = 64;

/** The listing of what starts as a ZIP but whose central directory is nowhere to be found. */
const noDirectory = (): ArchiveListing => ({ entries: [], encrypted: false, unreadable: 'no central directory was found' });

const overBudget = `its directory is over what the gateway reads of a message's archives (${ARCHIVE_MAX_BYTES} bytes in all)`;

const FLAG_ENCRYPTED = 0x1;
const FLAG_UTF8 = 0x800;
const FLAG_DIRECTORY_ENCRYPTED = 0x2000;
const EXTRA_ZIP64 = 0x0001;
const EXTRA_UNICODE_PATH = 0x7075;

// Code page 437, the one ZIP names are in unless their UTF-8 flag is set: its upper half.
const CP437_HIGH = 'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

export function cp437(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return out;
}

/** A 64-bit field as a number; undefined past 2^53, which no archive in a mail message reaches. */
function u64(b: Buffer, at: number): number | undefined {
  const v = b.readBigUInt64LE(at);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/** Where the central directory lies, found from an end record: its real offset, size and entry count. */
interface Directory { start: number; size: number; count: number; /** Real offset minus stated one: bytes in front of the archive (a self-extractor's program). */ shift: number }

/** A directory found (`doubt`: why it may not be the one archive programs read), or why none can be read. */
type Found = { dir: Directory; doubt?: string } | { why: string } | undefined;

/**
 * The directory an end record at `at` describes, if the bytes agree with it; `{ why }` when the record is a real one
 * but what it points at cannot be read; undefined when it is no end record (bytes that happen to look like one).
 */
function directoryAt(src: ByteSource, at: number, rec: Buffer): Found {
  let count = rec.readUInt16LE(10);
  let size = rec.readUInt32LE(12);
  let stated = rec.readUInt32LE(16);
  let end = at;
  if (rec.readUInt16LE(4) !== 0 && rec.readUInt16LE(4) !== 0xffff) return undefined;
  if (count === 0xffff || size === 0xffffffff || stated === 0xffffffff) {
    // ZIP64: a locator just before the end record, and before it the ZIP64 end record (without extensible data, 56
    // bytes, as writers make it; the one the locator's stated offset points at otherwise).
    const loc = readExactly(src, at - 20, 20);
    if (!loc || loc.readUInt32LE(0) !== ZIP64_LOCATOR) return undefined;
    const statedAt = u64(loc, 8);
    let z = readExactly(src, at - 20 - 56, 56);
    let zAt = at - 20 - 56;
    if ((!z || z.readUInt32LE(0) !== ZIP64_EOCD) && statedAt !== undefined) { z = readExactly(src, statedAt, 56); zAt = statedAt; }
    if (!z || z.readUInt32LE(0) !== ZIP64_EOCD) return { why: 'its ZIP64 end record cannot be read' };
    const c = u64(z, 32);
    const s = u64(z, 40);
    const o = u64(z, 48);
    if (c === undefined || s === undefined || o === undefined) return { why: 'its ZIP64 end record states sizes past any message' };
    count = c;
    size = s;
    stated = o;
    end = zAt;
  }
  const start = end - size;
  if (start < 0) return undefined;
  if (count === 0) return size === 0 ? { dir: { start, size, count, shift: start - stated } } : undefined;
  const first = readExactly(src, start, 4);
  if (!first) return { why: `its central directory (${size} bytes) is not within the part of the attachment that was kept` };
  if (first.readUInt32LE(0) !== CENTRAL) return undefined;
  return { dir: { start, size, count, shift: start - stated } };
}

/**
 * The directory of the archive in `src`, found from its end record; `{ why }` when there is none that can be read.
 * The search of an archive stored in another is paid from `budget`: crafted entries may point many times into the
 * same bytes, and each would be searched again.
 */
function findDirectory(src: ByteSource, budget: ListingBudget, nested: boolean): Found {
  const span = Math.min(src.size, EOCD_SIZE + MAX_COMMENT);
  if (nested) {
    if (span > budget.bytes) return { why: overBudget };
    budget.bytes -= span;
  }
  const tailAt = src.size - span;
  const tail = readExactly(src, tailAt, span);
  if (!tail) return { why: 'its end was not kept' };
  let problem: { why: string } | undefined;
  let fallback: { dir: Directory } | undefined;
  let empty: { dir: Directory } | undefined;
  let pos = tail.length - EOCD_SIZE;
  for (let tried = 0; tried < MAX_CANDIDATES && pos >= 0; tried++) {
    pos = tail.lastIndexOf(EOCD, pos);
    if (pos < 0) break;
    const rec = tail.subarray(pos, pos + EOCD_SIZE);
    const found = directoryAt(src, tailAt + pos, rec);
    // The record that ends the file with its comment is the archive's; bytes after it (a signature some tools
    // append) are allowed only when no record fits exactly, and an empty archive must fit exactly. An empty one is
    // the archive's only when no record before it has files: 22 bytes at the end of a comment make a false one.
    const exact = pos + EOCD_SIZE + rec.readUInt16LE(20) === tail.length;
    if (found && 'dir' in found) {
      if (exact && found.dir.count > 0) return found;
      if (exact) empty ??= found;
      else if (found.dir.count > 0) fallback ??= found;
    } else problem ??= found;
    pos--;
  }
  // Signatures left unchecked: the archive's own record may be among them, behind false ones put in its comment.
  if (pos >= 0 && tail.lastIndexOf(EOCD, pos) >= 0) {
    const why = `its end holds more end record signatures than the gateway tries (${MAX_CANDIDATES})`;
    return fallback ? { ...fallback, doubt: why } : { why };
  }
  return fallback ?? problem ?? empty;
}

/** Reads one directory: its entries, in one pass over its bytes. */
function readDirectory(src: ByteSource, dir: Directory, budget: ListingBudget, depth: number, listInner: InnerLister): ArchiveListing {
  const out: ArchiveListing = { entries: [], encrypted: false };
  // Local headers whose archive was listed: many entries may point at one.
  const seen = new Set<string>();
  if (dir.size > budget.bytes) { out.unreadable = overBudget; return out; }
  const bytes = readExactly(src, dir.start, dir.size);
  if (!bytes) { out.unreadable = `its central directory (${dir.size} bytes) is not within the part of the attachment that was kept`; return out; }
  budget.bytes -= dir.size;
  let pos = 0;
  let read = 0;
  while (pos < bytes.length) {
    if (pos + CENTRAL_SIZE > bytes.length || bytes.readUInt32LE(pos) !== CENTRAL) { out.unreadable = `its central directory is damaged after ${read} entries`; break; }
    const flags = bytes.readUInt16LE(pos + 8);
    const method = bytes.readUInt16LE(pos + 10);
    const crc = bytes.readUInt32LE(pos + 16);
    let packed = bytes.readUInt32LE(pos + 20);
    let size = bytes.readUInt32LE(pos + 24);
    const nameLen = bytes.readUInt16LE(pos + 28);
    const extraLen = bytes.readUInt16LE(pos + 30);
    const commentLen = bytes.readUInt16LE(pos + 32);
    let local = bytes.readUInt32LE(pos + 42);
    const next = pos + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (next > bytes.length) { out.unreadable = `its central directory is cut short after ${read} entries`; break; }
    if (flags & FLAG_DIRECTORY_ENCRYPTED) { out.unreadable = 'its central directory is encrypted'; out.encrypted = true; break; }
    if (budget.entries <= 0) { out.unreadable = `it holds more entries than the gateway lists in a message (${ARCHIVE_MAX_ENTRIES} in all)`; break; }
    budget.entries--;
    read++;
    const rawName = bytes.subarray(pos + CENTRAL_SIZE, pos + CENTRAL_SIZE + nameLen);
    const name = flags & FLAG_UTF8 ? rawName.toString('utf8') : cp437(rawName);
    const names = [name];
    // Extra fields: the ZIP64 sizes and offset where the 32-bit ones are full, and the Unicode path Info-ZIP and
    // 7-Zip extract the file under instead of the name above.
    for (let e = pos + CENTRAL_SIZE + nameLen, end = e + extraLen; e + 4 <= end;) {
      const id = bytes.readUInt16LE(e);
      const len = bytes.readUInt16LE(e + 2);
      const data = bytes.subarray(e + 4, Math.min(end, e + 4 + len));
      if (id === EXTRA_ZIP64) {
        let at = 0;
        const take = () => { const v = at + 8 <= data.length ? u64(data, at) : undefined; at += 8; return v; };
        if (size === 0xffffffff) size = take() ?? size;
        if (packed === 0xffffffff) packed = take() ?? packed;
        if (local === 0xffffffff) local = take() ?? local;
      } else if (id === EXTRA_UNICODE_PATH && data.length > 5) {
        names.push(data.subarray(5).toString('utf8'));
      }
      e += 4 + len;
    }
    const encrypted = (flags & FLAG_ENCRYPTED) !== 0;
    if (encrypted) out.encrypted = true;
    pos = next;
    if (name.endsWith('/') && size === 0) continue; // a folder
    const entry: ArchiveEntry = { names: [...new Set(names)], size, encrypted };
    out.entries.push(entry);
    if (encrypted) continue;
    const at = local + dir.shift;
    // Stored without compression, its bytes are in the archive as they are: their type is read.
    if (method === STORED) {
      const data = entryData(src, at, packed, dir.start);
      const head = 'why' in data ? undefined : data.readUpTo(0, MAGIC_HEAD_BYTES);
      if (head) entry.detectedType = detectFileType(head);
    }
    // An archive among the entries, stored or deflated, is listed in turn (once, however many entries point at it as
    // it). Keyed by how the entry reads its data too: a decoy entry that reads the same bytes as stored text must not
    // keep a second one that inflates them from being looked at.
    const reading = `${at}/${method}/${packed}/${size}`;
    if (depth >= ARCHIVE_MAX_DEPTH || seen.has(reading)) continue;
    seen.add(reading);
    const inner = innerArchive(src, { names: entry.names, method, packed, size, crc, local: at }, dir.start, budget, entry.detectedType);
    if (!inner) continue;
    const how = method === STORED ? 'stored in it' : 'compressed in it';
    const listing = 'why' in inner ? { entries: [], encrypted: false, unreadable: inner.why } : listInner(inner.data, inner.detectedType);
    if (listing) nestListing(out, listing, name, how);
  }
  if (!out.unreadable && dir.count !== read) out.unreadable = `its end record counts ${dir.count} entries, its central directory holds ${read}`;
  return out;
}

/** Adds the listing of the archive `name` in `out`'s archive to it: its entries, marked as within it, and its doubts. */
function nestListing(out: ArchiveListing, inner: ArchiveListing, name: string, how: string): void {
  for (const x of inner.entries) out.entries.push({ ...x, within: [name, ...(x.within ?? [])] });
  if (inner.encrypted) out.encrypted = true;
  if (inner.unreadable !== undefined) out.unreadable ??= `${name}, ${how}: ${inner.unreadable}`;
  if (inner.unlisted !== undefined) out.unlisted ??= `${name}, ${how}: ${inner.unlisted}`;
}

/**
 * The listing of the ZIP archive in `src`, or undefined when it is none. `looksLikeZip` (its first bytes are a ZIP's)
 * makes an archive whose directory is not found `unreadable` rather than no archive; without it, an end record
 * found at its end is still read, as archive programs do for a ZIP behind a self-extractor or other bytes. `depth` is
 * how deep in archives `src` lies (the attachment is 1); `listInner` lists the archives found in it.
 */
export function listZip(src: ByteSource, budget: ListingBudget, looksLikeZip: boolean, depth = 1, listInner?: InnerLister): ArchiveListing | undefined {
  const found = findDirectory(src, budget, depth > 1);
  if (!found) return looksLikeZip ? noDirectory() : undefined;
  if ('why' in found) return { entries: [], encrypted: false, unreadable: found.why };
  const zipsOnly: InnerLister = (inner, type) => listZip(inner, budget, type === 'application/zip', depth + 1);
  const listing = readDirectory(src, found.dir, budget, depth, listInner ?? zipsOnly);
  if (found.doubt && !listing.unreadable) listing.unreadable = found.doubt;
  return listing;
}

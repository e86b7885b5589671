// The bytes of a ZIP entry that is an archive itself, by its name or by its first bytes, so that the names in it are
// listed in turn: `invoice.zip` holding `inner.zip` holding `setup.exe` must not pass a rule on `*.exe` because every
// zip program deflates `inner.zip`. A stored entry is read where it lies; a deflated one is inflated here (node:zlib,
// raw deflate), synchronously on the listing's own thread. The sender chooses every byte and every stated size, so the
// inflation is held to bounds a bomb cannot pass: a message's archives together inflate at most ARCHIVE_MAX_INFLATED
// bytes, an entry no more than its directory states nor more than MAX_INFLATE_RATIO times its compressed size, and
// zlib's maxOutputLength stops the output at the stated size instead of letting it grow. The result is checked against
// the directory's size and CRC-32. Of a compressed entry not named as an archive only the first bytes are inflated, for
// a bounded number of entries per message, to see whether it is one all the same. An entry that is past a bound or fails a check is reported with the reason, and its
// archive becomes `unreadable`: never an empty archive.
import { constants, crc32, inflateRawSync } from 'node:zlib';
import { readExactly, sliceSource, wholeSource, type ByteSource } from './byte-source.ts';
import { detectFileType, MAGIC_HEAD_BYTES } from './file-magic.ts';
import type { ListingBudget } from './zip-listing.ts';

/** Bytes inflated, over all the archives of a message: archives compressed in archives, and first bytes looked at. */
export const ARCHIVE_MAX_INFLATED = 32 * 1024 * 1024;
/**
 * Stated size over compressed size past which an entry is not inflated. Archives are mostly compressed data already
 * and deflate again to about their own size; a hundredfold is runs of one byte, which is what a bomb is made of.
 */
export const MAX_INFLATE_RATIO = 100;

/** The types whose names the gateway lists (archive-listing.ts). */
const ARCHIVE_TYPES: ReadonlySet<string | undefined> = new Set(['application/zip', 'application/vnd.rar', 'application/x-7z-compressed']);
/** The names Windows, macOS and desktop Linux open with an archive program. */
const ARCHIVE_NAME = /\.(?:zip|rar|7z)$/i;
/** No archive is shorter: a ZIP's end record alone is 22 bytes. */
const SMALLEST_ARCHIVE = 22;

/**
 * Compressed entries not named as archives whose first bytes are inflated, over all the archives of a message, to
 * see whether they are archives all the same. Each look costs some 15 µs of zlib's setup however little it inflates:
 * a message of 10,000 small compressed files would cost 150 ms, this many some 15. Past it they are judged by name.
 */
export const ARCHIVE_MAX_FIRST_LOOKS = 1000;

/**
 * Compressed bytes inflated to see the first bytes of an entry not named as an archive, tried in turn until the
 * longest signature has come out: a deflate block's code tables come before its first byte and may take a few
 * hundred bytes.
 */
const FIRST_BYTES_INPUTS = [128, 1024];
/** Output enough to tell an archive: the RAR 5 signature is 8 bytes. */
const FIRST_BYTES_WANTED = 8;
/** Output of one look at first bytes: 1 KB of deflate can make a megabyte, which the look does not need. */
const FIRST_BYTES_MAX_OUTPUT = 64 * 1024;

const STORED = 0;
const DEFLATED = 8;
const LOCAL = 0x04034b50;
const LOCAL_SIZE = 30;

/** What the central directory states of an entry that is not encrypted. */
export interface CentralEntry {
  /** Its name and any other it carries (the Unicode path). */
  names: string[];
  method: number;
  /** Compressed size. */
  packed: number;
  /** Extracted size. */
  size: number;
  crc: number;
  /** Where its local header really is (the stated offset plus any bytes in front of the archive). */
  local: number;
}

/** An archive in an archive: its bytes and the type they start with; or why they cannot be had. */
export type InnerArchive = { data: ByteSource; detectedType?: string } | { why: string };

/**
 * The data of the entry whose local header is at `local`, or why it cannot be read: the header is not there or not
 * kept, or the data would run into the central directory (offsets a crafted archive points anywhere).
 */
export function entryData(src: ByteSource, local: number, packed: number, directoryStart: number): ByteSource | { why: string } {
  if (local < 0 || local + LOCAL_SIZE > directoryStart) return { why: 'its local header is not where the directory says' };
  const header = readExactly(src, local, LOCAL_SIZE);
  if (!header) return { why: 'its data is not within the part of the attachment that was kept' };
  if (header.readUInt32LE(0) !== LOCAL) return { why: 'its local header is not where the directory says' };
  const start = local + LOCAL_SIZE + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (start + packed > directoryStart) return { why: 'its data runs into the central directory' };
  return sliceSource(src, start, packed);
}

/**
 * The archive entry `e` holds, when its name or its first bytes (`storedType`, of a stored entry) say it is one;
 * undefined when it is none. The bytes looked at and inflated are paid from `budget`.
 */
export function innerArchive(src: ByteSource, e: CentralEntry, directoryStart: number, budget: ListingBudget, storedType?: string): InnerArchive | undefined {
  const named = e.names.some((n) => ARCHIVE_NAME.test(n));
  if (e.method === STORED) {
    if (!named && !ARCHIVE_TYPES.has(storedType)) return undefined;
    const data = entryData(src, e.local, e.packed, directoryStart);
    if ('why' in data) return data;
    if (e.packed !== e.size) return { why: `it is stored, yet its directory states ${e.packed} bytes stored and ${e.size} extracted` };
    return { data, ...(storedType ? { detectedType: storedType } : {}) };
  }
  if (e.method !== DEFLATED) return named ? { why: `it is compressed with a method the gateway does not inflate (${e.method})` } : undefined;
  if (e.size < SMALLEST_ARCHIVE) return undefined;
  const data = entryData(src, e.local, e.packed, directoryStart);
  const packed = 'why' in data ? undefined : readExactly(data, 0, e.packed);
  if (!packed) {
    if (!named) return undefined;
    return 'why' in data ? data : { why: 'its data is not within the part of the attachment that was kept' };
  }
  if (!named) {
    const looks = budget.firstLooks ?? 0;
    if (looks <= 0) return undefined;
    budget.firstLooks = looks - 1;
    const first = firstBytes(packed, budget);
    if (!first || !ARCHIVE_TYPES.has(detectFileType(first))) return undefined;
  }
  const whole = inflate(packed, e, budget);
  if ('why' in whole) return whole;
  const detectedType = detectFileType(whole.subarray(0, MAGIC_HEAD_BYTES));
  return { data: wholeSource(whole), ...(detectedType ? { detectedType } : {}) };
}

/** The first bytes `packed` inflates to, or undefined when the budget is spent or they cannot be had. */
function firstBytes(packed: Buffer, budget: ListingBudget): Buffer | undefined {
  // `fits` took fewer than FIRST_BYTES_WANTED out of it; `tooMuch` made more than a look may (a crafted run right
  // after the signature): the bytes wanted lie between, found by halving, never taken for "not an archive".
  let fits = 0;
  let tooMuch = Infinity;
  let i = 0;
  for (;;) {
    const input = tooMuch === Infinity ? Math.min(FIRST_BYTES_INPUTS[i++] ?? packed.length, packed.length) : Math.floor((fits + tooMuch) / 2);
    if (input <= fits) return undefined;
    const look = lookAt(packed.subarray(0, input), budget);
    if (look === 'spent') return undefined;
    if (look === 'too much') { tooMuch = input; continue; }
    if (look === 'damaged') return undefined;
    if (look.length >= FIRST_BYTES_WANTED || input >= packed.length) return look;
    fits = input;
    if (tooMuch === Infinity && i >= FIRST_BYTES_INPUTS.length) return look;
  }
}

/** What `input` inflates to, within one look's output and the budget, paid from the budget. */
function lookAt(input: Buffer, budget: ListingBudget): Buffer | 'spent' | 'too much' | 'damaged' {
  const cap = Math.min(FIRST_BYTES_MAX_OUTPUT, inflatedLeft(budget));
  if (cap < FIRST_BYTES_WANTED) return 'spent';
  try {
    // A sync flush takes out what the bytes given make, without asking for the end of the stream.
    const out = inflateRawSync(input, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: cap });
    budget.inflated = inflatedLeft(budget) - out.length;
    return out;
  } catch (err) {
    if (!isZlibRefusal(err)) throw err;
    budget.inflated = inflatedLeft(budget) - cap;
    return (err as { code: string }).code === 'ERR_BUFFER_TOO_LARGE' && cap === FIRST_BYTES_MAX_OUTPUT ? 'too much' : 'damaged';
  }
}

const inflatedLeft = (budget: ListingBudget): number => budget.inflated ?? 0;

/** The bytes a deflated entry holds, checked against what its directory states; or why they are not read. */
function inflate(packed: Buffer, e: CentralEntry, budget: ListingBudget): Buffer | { why: string } {
  if (e.size > e.packed * MAX_INFLATE_RATIO) {
    return { why: `it would inflate ${e.packed} bytes to ${e.size}, more than ${MAX_INFLATE_RATIO} times (as a zip bomb does)` };
  }
  if (e.size > inflatedLeft(budget)) {
    return { why: `it would inflate to ${e.size} bytes, over what the gateway inflates of a message's archives (${ARCHIVE_MAX_INFLATED} bytes in all)` };
  }
  // Paid before the work: an entry that fails still cost the gateway up to its stated size.
  budget.inflated = inflatedLeft(budget) - e.size;
  let out: Buffer;
  try {
    out = inflateRawSync(packed, { maxOutputLength: e.size });
  } catch (err) {
    if (!isZlibRefusal(err)) throw err;
    if (err.code === 'ERR_BUFFER_TOO_LARGE') return { why: `it inflates to more than the ${e.size} bytes its directory states` };
    return { why: `its compressed data is damaged (${err.message})` };
  }
  if (out.length !== e.size) return { why: `it inflates to ${out.length} bytes, its directory states ${e.size}` };
  if (crc32(out) !== e.crc) return { why: 'its inflated bytes fail the CRC-32 its directory states' };
  return out;
}

/** An error zlib gives for its input (damaged, cut short) or for output over maxOutputLength; anything else is a bug. */
function isZlibRefusal(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && (code.startsWith('Z_') || code === 'ERR_BUFFER_TOO_LARGE');
}

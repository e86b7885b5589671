// One journal record on disk, and the reading of a segment's records past one that is damaged.
//
// A record: HEADER <envelope JSON> <message bytes>, HEADER = "MMJ1 " <json len, 10> " " <body len, 10> " " <CRC-32 of
// the body, 8 hex> " " <HMAC-SHA256 of the lengths, the CRC and the JSON, 64 hex> "\n". The HMAC (key in
// data_dir/queue.key) means message content that merely looks like a record is never taken for one, which is also
// what lets a reader look for the next record after a damaged one: any "MMJ1 " that verifies is a record.
import { createHmac, type KeyObject } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { QueueEntry } from './entry.ts';

const MAGIC = 'MMJ1 ';
const MAGIC_BYTES = Buffer.from(MAGIC, 'latin1');
export const HEADER_LENGTH = MAGIC.length + 10 + 1 + 10 + 1 + 8 + 1 + 64 + 1;
const HEADER_RE = /^MMJ1 (\d{10}) (\d{10}) ([0-9a-f]{8}) ([0-9a-f]{64})\n$/;

/** A segment's name: its sequence number, ten digits, then `.seg` (its done marks: the same digits, then `.done`). */
export const isSegmentName = (name: string): boolean => /^\d{10}\.seg$/.test(name);

/** The ten-digit name of segment `seq`, without its `.seg` or `.done`. */
export const seqName = (seq: number): string => String(seq).padStart(10, '0');

/** The envelope's and the body's lengths a record header at the start of `head` claims; undefined when it is none. */
export function recordLengths(head: Buffer): { json: number; body: number } | undefined {
  const m = HEADER_RE.exec(head.toString('latin1', 0, HEADER_LENGTH));
  return m ? { json: Number(m[1]), body: Number(m[2]) } : undefined;
}

/** Where a journaled message's bytes are: `size` bytes of `file` from `start`. */
export interface JournalLocation { file: string; start: number; size: number }

export interface JournalRecord { entry: QueueEntry; location: JournalLocation }

function seal(fields: string, json: Buffer, key: KeyObject): string {
  return createHmac('sha256', key).update(fields).update(json).digest('hex');
}

const crcText = (body: Buffer) => crc32(body).toString(16).padStart(8, '0');

export function recordHeader(json: Buffer, body: Buffer, key: KeyObject): string {
  const fields = `${String(json.length).padStart(10, '0')} ${String(body.length).padStart(10, '0')} ${crcText(body)}`;
  return `${MAGIC}${fields} ${seal(fields, json, key)}\n`;
}

/**
 * What is at an offset of a segment: a record; one that is whole but fails a check (`wrong-key`: its body and JSON
 * are sound but the HMAC fails, as with another gateway's key; `bad-body`: the HMAC holds but the body's CRC does
 * not), with where it ends and its id when its JSON reads; or nothing that can be taken for a record (undefined).
 */
type Found =
  | { kind: 'record'; record: JournalRecord; end: number }
  | { kind: 'wrong-key' | 'bad-body'; id?: string; end: number };

function idOf(json: Buffer): string | undefined {
  try {
    const id = (JSON.parse(json.toString('utf8')) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch { return undefined; }
}

/**
 * How far a header is believed, by where the reader met it.
 * - `boundary`: where a record must start (the segment's start, or the end of a whole record): a header whose HMAC
 *   fails is still a record, sealed with another key, when the body's CRC matches at the length it claims.
 * - `searched`: an "MMJ1 " found by looking past damage, which may be message text: only a header whose HMAC holds
 *   is a record there, and no CRC is computed for one whose HMAC fails.
 * - `searched-tail`: the same in a stretch after which no record verifies, looked through once more for records
 *   sealed with another key (a segment restored without its key and damaged near its start). One is taken only
 *   where the length it claims ends at the segment's end or at another "MMJ1 ", as a real record's does.
 */
type Trust = 'boundary' | 'searched' | 'searched-tail';

const OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, NEWLINE = 0x0a;

/**
 * Whether the bytes a header found by searching claims for its envelope can be one. JSON.stringify writes no newline
 * and every header ends with one, so the stretch a fake header claims stops before the next header: the HMACs of all
 * fakes in a stretch together cover at most the stretch, whatever lengths they claim.
 */
function envelopeShaped(json: Buffer): boolean {
  return json.length >= 2 && json[0] === OPEN_BRACE && json[json.length - 1] === CLOSE_BRACE && json.indexOf(NEWLINE) < 0;
}

/** Whether a record may end at `end`: at the segment's end, or where another header (or the start of one) begins. */
function endsAtRecord(data: Buffer, end: number): boolean {
  const next = data.subarray(end, end + MAGIC_BYTES.length);
  return MAGIC_BYTES.subarray(0, next.length).equals(next);
}

function foundAt(data: Buffer, off: number, file: string, key: KeyObject, trust: Trust = 'boundary'): Found | undefined {
  // The cheap checks first, the HMAC over the envelope next, the CRC over the body last: a header in message text
  // costs its own length, not the megabytes it may claim.
  if (off + HEADER_LENGTH > data.length) return undefined;
  const m = HEADER_RE.exec(data.toString('latin1', off, off + HEADER_LENGTH));
  if (!m) return undefined;
  const jsonLen = Number(m[1]), bodyLen = Number(m[2]);
  const jsonAt = off + HEADER_LENGTH, bodyAt = jsonAt + jsonLen, end = bodyAt + bodyLen;
  if (end > data.length) return undefined;
  const json = data.subarray(jsonAt, bodyAt), body = data.subarray(bodyAt, end);
  if (trust !== 'boundary' && !envelopeShaped(json)) return undefined;
  const sealed = seal(`${m[1]} ${m[2]} ${m[3]}`, json, key) === m[4];
  if (sealed) {
    // The lengths are the writer's (the HMAC covers them): only the body can be at fault.
    if (crcText(body) !== m[3]) return { kind: 'bad-body', id: idOf(json), end };
    let entry: QueueEntry;
    try { entry = JSON.parse(json.toString('utf8')) as QueueEntry; } catch { return undefined; }
    return { kind: 'record', record: { entry, location: { file, start: bodyAt, size: bodyLen } }, end };
  }
  // Without the HMAC, the lengths are trusted only where a body CRC matches at that length.
  if (trust === 'searched' || (trust === 'searched-tail' && !endsAtRecord(data, end))) return undefined;
  if (crcText(body) !== m[3]) return undefined;
  const id = idOf(json);
  return id === undefined ? undefined : { kind: 'wrong-key', id, end };
}

/** Fields of a header at fixed places (it has one width): each is read on its own when another is damaged. */
const FIELD = { json: [5, 15], body: [16, 26], crc: [27, 35], hmac: [36, 100] } as const;

/** How many places that may end an envelope are tried after an unreadable header (damagedHeaderRecord). */
const ENVELOPE_ENDS_TRIED = 8;

const padded = (n: number) => String(n).padStart(10, '0');

/**
 * The envelope that starts at `at`, when one parses there: its length and the message size it gives. JSON.stringify
 * writes no newline, so it ends at a `}` before the first newline after it (the message's first line ends with one);
 * the last few such are tried, last first.
 */
function envelopeAt(data: Buffer, at: number): { length: number; size?: number } | undefined {
  if (data[at] !== OPEN_BRACE) return undefined;
  const newline = data.indexOf(NEWLINE, at);
  let end = newline < 0 ? data.length : newline;
  for (let tries = 0; tries < ENVELOPE_ENDS_TRIED; tries++) {
    end = data.lastIndexOf(CLOSE_BRACE, end - 1);
    if (end < at) return undefined;
    let parsed: { size?: unknown };
    try { parsed = JSON.parse(data.toString('utf8', at, end + 1)) as typeof parsed; } catch { continue; }
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    return { length: end + 1 - at, size: typeof parsed.size === 'number' ? parsed.size : undefined };
  }
  return undefined;
}

/**
 * Whether the bytes from `at`, where a record must start and none reads, are a whole record whose header was damaged
 * after it was written, rather than one torn by a crash; where it ends, and its id when its envelope reads.
 *
 * A record is acknowledged only once it is all on disk, and a write a crash cut short leaves a prefix of it. So the
 * question is whether the record is all there, asked of the parts the damage left readable: the lengths its header
 * gives (each field has its place, so one damaged field leaves the others readable), and the end and `size` of its
 * envelope. A length taken from these must end the record at the segment's end or at the next "MMJ1 ", and then one of
 * three things must show the record whole: its HMAC verifies with that length and the CRC of the bytes found (only the
 * header's other fields were damaged); its body's CRC is the one the header gives (a prefix fails it); or its envelope
 * reads and its `size` is exactly the bytes found (a prefix has fewer).
 */
export function damagedHeaderRecord(data: Buffer, at: number, key: KeyObject): { end: number; id?: string } | undefined {
  const jsonAt = at + HEADER_LENGTH;
  if (jsonAt >= data.length) return undefined;
  const field = ([from, to]: readonly [number, number]) => data.toString('latin1', at + from, at + to);
  const claimed = (text: string) => (/^\d{10}$/.test(text) ? Number(text) : undefined);
  const envelope = envelopeAt(data, jsonAt);
  const jsonLengths = new Set([claimed(field(FIELD.json)), envelope?.length].filter((n) => n !== undefined));
  const bodyLengths = new Set([claimed(field(FIELD.body)), envelope?.size].filter((n) => n !== undefined));
  for (const jsonLen of jsonLengths) {
    for (const bodyLen of bodyLengths) {
      const bodyAt = jsonAt + jsonLen, end = bodyAt + bodyLen;
      if (end > data.length || !endsAtRecord(data, end)) continue;
      const json = data.subarray(jsonAt, bodyAt);
      const crc = crcText(data.subarray(bodyAt, end));
      const sealed = seal(`${padded(jsonLen)} ${padded(bodyLen)} ${crc}`, json, key) === field(FIELD.hmac);
      const sized = envelope?.length === jsonLen && envelope.size === bodyLen;
      if (sealed || crc === field(FIELD.crc) || sized) return { end, id: idOf(json) };
    }
  }
  return undefined;
}

/** What a segment held besides its valid records. */
export interface SegmentFindings {
  /** Valid records read. */
  records: number;
  /**
   * Whole records that fail a check, where they start and end, with their id when their JSON reads: `wrong-key` (the
   * HMAC fails: sealed with another key, or the envelope damaged), `bad-body` (the HMAC holds, the body's CRC does not),
   * `bad-header` (at the end of the segment, a header that does not read before a record that is all there:
   * damagedHeaderRecord).
   */
  failed: Array<{ kind: 'wrong-key' | 'bad-body' | 'bad-header'; id?: string; at: number; end: number }>;
  /** Stretches of bytes that are no valid record, each followed by a valid one: damage, since appends only add at the end. */
  damaged: Array<{ at: number; bytes: number }>;
  /** Valid records found after the first stretch that is not one: what reading on past the damage recovered. */
  recordsAfterDamage: number;
  /** Bytes after the last whole record that are no record: a record torn by a crash while it was appended. */
  tornTail: number;
}

export const noFindings = (): SegmentFindings => ({ records: 0, failed: [], damaged: [], recordsAfterDamage: 0, tornTail: 0 });

/** Yielded by segmentScan while it looks through bytes that are no record: where a caller may let the event loop run. */
export const SCANNING = Symbol('scanning');

/**
 * The parts of a damaged stretch that no whole record (valid or failed) accounts for: `[from, to)` offsets. A record
 * whose header is damaged is in one of them, and its id cannot be known.
 */
export function unexplained(stretch: { at: number; bytes: number }, failed: SegmentFindings['failed']): Array<{ from: number; to: number }> {
  const out: Array<{ from: number; to: number }> = [];
  const stop = stretch.at + stretch.bytes;
  let from = stretch.at;
  for (const f of failed) {
    if (f.at < stretch.at || f.at >= stop) continue;
    if (f.at > from) out.push({ from, to: f.at });
    from = Math.max(from, f.end);
  }
  if (from < stop) out.push({ from, to: stop });
  return out;
}

/**
 * Every valid record of a segment's bytes, in order, with SCANNING between the steps of a search. A stretch that is no
 * valid record is skipped to the next place a record verifies (a whole record failing a check is skipped by its own
 * length, anything else by looking for the next "MMJ1 " whose HMAC holds), and noted in `findings`; what follows the
 * last valid record is its torn tail, looked through once more for records sealed with another key.
 */
export function* segmentScan(data: Buffer, file: string, key: KeyObject, findings: SegmentFindings): Generator<JournalRecord | typeof SCANNING> {
  let off = 0;
  let badFrom = -1;
  // Where the current search began: past it, every "MMJ1 " may be message text until a record verifies.
  let searchFrom = -1;
  while (off < data.length) {
    const found = foundAt(data, off, file, key, searchFrom >= 0 ? 'searched' : 'boundary');
    if (found?.kind === 'record') {
      if (badFrom >= 0) findings.damaged.push({ at: badFrom, bytes: off - badFrom });
      badFrom = -1;
      searchFrom = -1;
      findings.records++;
      if (findings.damaged.length) findings.recordsAfterDamage++;
      yield found.record;
      off = found.end;
      continue;
    }
    if (badFrom < 0) badFrom = off;
    if (found) {
      findings.failed.push({ kind: found.kind, id: found.id, at: off, end: found.end });
      searchFrom = -1;
      off = found.end;
      continue;
    }
    if (searchFrom < 0) searchFrom = off;
    yield SCANNING;
    const next = data.indexOf(MAGIC_BYTES, off + 1);
    if (next < 0) break;
    off = next;
  }
  if (badFrom < 0 || searchFrom < 0) return;
  // What follows the last record that reads: a torn record, or records whose headers were damaged since.
  let tail = searchFrom;
  for (let whole = damagedHeaderRecord(data, tail, key); whole; whole = damagedHeaderRecord(data, tail, key)) {
    findings.failed.push({ kind: 'bad-header', id: whole.id, at: tail, end: whole.end });
    tail = whole.end;
  }
  findings.tornTail = data.length - tail;
  if (tail < data.length) yield* tailScan(data, tail, file, key, findings);
}

/** The tail's second look: records sealed with another key, from the first "MMJ1 " after `from` that passes for one. */
function* tailScan(data: Buffer, from: number, file: string, key: KeyObject, findings: SegmentFindings): Generator<typeof SCANNING> {
  let off = data.indexOf(MAGIC_BYTES, from + 1);
  let trust: Trust = 'searched-tail';
  while (off >= 0 && off < data.length) {
    const found = foundAt(data, off, file, key, trust);
    // The first pass found no header past `from` whose HMAC holds, so only a record of another key can be here.
    if (found && found.kind !== 'record') {
      findings.failed.push({ kind: found.kind, id: found.id, at: off, end: found.end });
      off = found.end;
      trust = 'boundary';
      continue;
    }
    yield SCANNING;
    off = data.indexOf(MAGIC_BYTES, off + 1);
    trust = 'searched-tail';
  }
}

/** segmentScan's records alone, for a reader that need not let the event loop run. */
export function* segmentRecords(data: Buffer, file: string, key: KeyObject, findings: SegmentFindings): Generator<JournalRecord> {
  for (const item of segmentScan(data, file, key, findings)) if (item !== SCANNING) yield item;
}

/**
 * Whether the first record of a segment is whole but sealed with another key: enough for `moat queue list` and
 * `moat doctor` to tell a journal restored without its queue.key, without verifying every record.
 */
export function firstRecordWrongKey(head: Buffer, key: KeyObject): boolean {
  return foundAt(head, 0, '', key)?.kind === 'wrong-key';
}

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

function foundAt(data: Buffer, off: number, file: string, key: KeyObject): Found | undefined {
  if (off + HEADER_LENGTH > data.length) return undefined;
  const m = HEADER_RE.exec(data.toString('latin1', off, off + HEADER_LENGTH));
  if (!m) return undefined;
  const jsonLen = Number(m[1]), bodyLen = Number(m[2]);
  const jsonAt = off + HEADER_LENGTH, bodyAt = jsonAt + jsonLen, end = bodyAt + bodyLen;
  if (end > data.length) return undefined;
  const json = data.subarray(jsonAt, bodyAt), body = data.subarray(bodyAt, end);
  const sealed = seal(`${m[1]} ${m[2]} ${m[3]}`, json, key) === m[4];
  const whole = crcText(body) === m[3];
  if (sealed && whole) {
    let entry: QueueEntry;
    try { entry = JSON.parse(json.toString('utf8')) as QueueEntry; } catch { return undefined; }
    return { kind: 'record', record: { entry, location: { file, start: bodyAt, size: bodyLen } }, end };
  }
  // The lengths are trusted only where a check covers them: the HMAC, or a body CRC that matches at that length.
  if (sealed) return { kind: 'bad-body', id: idOf(json), end };
  const id = whole ? idOf(json) : undefined;
  return id === undefined ? undefined : { kind: 'wrong-key', id, end };
}

/** What a segment held besides its valid records. */
export interface SegmentFindings {
  /** Valid records read. */
  records: number;
  /**
   * Whole records that fail a check, where they start, with their id when their JSON reads: `wrong-key` (the HMAC
   * fails: sealed with another key, or the envelope damaged), `bad-body` (the HMAC holds, the body's CRC does not).
   */
  failed: Array<{ kind: 'wrong-key' | 'bad-body'; id?: string; at: number }>;
  /** Stretches of bytes that are no valid record, each followed by a valid one: damage, since appends only add at the end. */
  damaged: Array<{ at: number; bytes: number }>;
  /** Valid records found after the first stretch that is not one: what reading on past the damage recovered. */
  recordsAfterDamage: number;
  /** Bytes after the last valid record that are no record: a record torn by a crash while it was appended. */
  tornTail: number;
}

export const noFindings = (): SegmentFindings => ({ records: 0, failed: [], damaged: [], recordsAfterDamage: 0, tornTail: 0 });

/**
 * Every valid record of a segment's bytes, in order. A stretch that is no valid record is skipped to the next place a
 * record verifies (a whole record failing a check is skipped by its own length, anything else by looking for the next
 * "MMJ1 "), and noted in `findings`; what follows the last valid record is its torn tail.
 */
export function* segmentRecords(data: Buffer, file: string, key: KeyObject, findings: SegmentFindings): Generator<JournalRecord> {
  let off = 0;
  let badFrom = -1;
  while (off < data.length) {
    const found = foundAt(data, off, file, key);
    if (found?.kind === 'record') {
      if (badFrom >= 0) findings.damaged.push({ at: badFrom, bytes: off - badFrom });
      badFrom = -1;
      findings.records++;
      if (findings.damaged.length) findings.recordsAfterDamage++;
      yield found.record;
      off = found.end;
      continue;
    }
    if (badFrom < 0) badFrom = off;
    if (found) {
      findings.failed.push({ kind: found.kind, id: found.id, at: off });
      off = found.end;
      continue;
    }
    const next = data.indexOf(MAGIC_BYTES, off + 1);
    if (next < 0) break;
    off = next;
  }
  if (badFrom >= 0) findings.tornTail = data.length - badFrom;
}

/**
 * Whether the first record of a segment is whole but sealed with another key: enough for `moat queue list` and
 * `moat doctor` to tell a journal restored without its queue.key, without verifying every record.
 */
export function firstRecordWrongKey(head: Buffer, key: KeyObject): boolean {
  return foundAt(head, 0, '', key)?.kind === 'wrong-key';
}

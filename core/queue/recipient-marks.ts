// Marks that a recipient was delivered, written where the room was taken beforehand, for when a message's state
// cannot be rewritten (a full disk): a restart must not send to a recipient again, as Postfix never does (it marks
// a recipient done in place in its queue file). Two places, one per kind of message:
// - a journaled message: a line `<id>/<index>` in its segment's done file, whose zeros are reserved when the record
//   is appended (done-marks.ts); only for messages with several recipients, since one recipient's delivery is the
//   message's own done mark. A reader that knows nothing of these lines finds no id in them.
// - a message with a state file: after the JSON, a newline and one byte per recipient, a space written with the
//   file; a delivery overwrites its byte with a tab, in blocks the file already has. Both are whitespace to JSON, so
//   any reader of the file still parses it (and sees the state before the mark).
// A message whose envelope is only sealed in its message file has no such room: its marks are kept in memory.
import { closeSync, fdatasyncSync, openSync, readSync, fstatSync, writeSync } from 'node:fs';
import type { QueueEntry } from './entry.ts';

/** The reply a recipient marked so shows: the server's own reply went with the state that could not be written. */
const MARKED_DELIVERED_REPLY = 'delivered (recorded in reserved space: the reply was not kept, the state file could not be rewritten)';

const UNSET = 0x20;
const DELIVERED = 0x09;
const NEWLINE = 0x0a;

/** A recipient's mark in a done file. Ids hold no `/`, so no message id is ever taken for one. */
export const journalRecipientMark = (id: string, index: number): string => `${id}/${index}`;

/** Bytes a message's recipient marks take in a done file (none for a single recipient). */
export function journalRecipientMarksLength(id: string, recipients: number): number {
  if (recipients < 2) return 0;
  let n = 0;
  for (let i = 0; i < recipients; i++) n += Buffer.byteLength(journalRecipientMark(id, i)) + 1;
  return n;
}

function markDelivered(entry: QueueEntry, index: number): void {
  const r = entry.recipients[index];
  if (!r || r.status !== 'pending') return;
  r.status = 'delivered';
  r.reply = MARKED_DELIVERED_REPLY;
}

/** Applies the recipient marks among a segment's done marks to one of its entries. */
export function applyJournalRecipientMarks(entry: QueueEntry, done: ReadonlySet<string>): QueueEntry {
  if (entry.recipients.length < 2) return entry;
  for (let i = 0; i < entry.recipients.length; i++) if (done.has(journalRecipientMark(entry.id, i))) markDelivered(entry, i);
  return entry;
}

/** A state file's text: the entry, then room for one mark per recipient. */
export function stateFileText(entry: QueueEntry): string {
  return `${JSON.stringify(entry)}\n${' '.repeat(entry.recipients.length)}`;
}

/** The entry of a state file's text with its marks applied; throws when the JSON does not parse. */
export function parseStateFileText(text: string): QueueEntry {
  // JSON.stringify writes no raw newline, so the first one ends the JSON.
  const nl = text.indexOf('\n');
  const entry = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as QueueEntry;
  const marks = nl < 0 ? '' : text.slice(nl + 1);
  // Room of another length is not ours to read (a file edited by hand).
  if (marks.length === entry.recipients?.length) {
    for (let i = 0; i < marks.length; i++) if (marks.charCodeAt(i) === DELIVERED) markDelivered(entry, i);
  }
  return entry;
}

/**
 * Marks recipients `indexes` delivered in the state file `file` of a message with `recipients` recipients: one byte
 * each, overwritten in place, then fdatasync'd. Throws when the file has no room for them (written by an older
 * version) or a write fails.
 */
export function markDeliveredInStateFile(file: string, indexes: readonly number[], recipients: number): void {
  const fd = openSync(file, 'r+');
  try {
    const size = fstatSync(fd).size;
    const start = size - recipients;
    const sep = Buffer.alloc(1);
    if (start < 1 || readSync(fd, sep, 0, 1, start - 1) !== 1 || sep[0] !== NEWLINE) {
      throw Object.assign(new Error(`${file} has no room for recipient marks`), { code: 'ENOROOM' });
    }
    const room = Buffer.alloc(recipients);
    readSync(fd, room, 0, recipients, start);
    if (room.some((b) => b !== UNSET && b !== DELIVERED)) throw Object.assign(new Error(`${file} has no room for recipient marks`), { code: 'ENOROOM' });
    for (const i of indexes) if (i >= 0 && i < recipients) writeSync(fd, Buffer.of(DELIVERED), 0, 1, start + i);
    fdatasyncSync(fd);
  } finally { closeSync(fd); }
}

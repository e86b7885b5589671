// Read-only views of the queue for `moat queue`: the list, one message in full, and the per-domain overview.
import { readdir } from 'node:fs/promises';
import { headerEnd, parseHeaderBlock } from '../message/header-block.ts';
import { originalHeaders } from './dsn.ts';
import { decodeCharset } from '../text/charset.ts';
import type { QueueEntry } from './entry.ts';
import type { QueueFolder, QueueStore } from './queue-store.ts';
import { domainOf } from './actions.ts';

export interface ListRow {
  id: string;
  /** Milliseconds since the message was received. */
  age: number;
  /** When it was received (ms since the epoch): what a sender's "I sent it at 10:14" is matched against. */
  receivedAt: number;
  sender: string;
  /** In the queue, the recipients still to do; in the other folders, every recipient. */
  recipients: string[];
  /** Every recipient with where it stands, and for one no longer pending the reply that settled it. */
  recipientStatus: Array<{ address: string; status: QueueEntry['recipients'][number]['status']; reply?: string }>;
  attempts: number;
  nextAttempt: number | null;
  lastReply: string | null;
  /**
   * As Postfix's mailq uses the words: `active` is being delivered now; `due` waits for a free relay worker, or with no
   * gateway running for its next start; `deferred` waits for its next attempt.
   */
  state: 'active' | 'due' | 'deferred' | 'held' | 'dead' | 'quarantined';
  size: number;
  /** The verdict that held a quarantined message (score and findings), so the list tells why without a `show` each. */
  verdict?: QueueEntry['verdict'];
  /** A quarantined message's Subject as the digest shows it (`moat queue list` reads it from the message's head). */
  subject?: string;
}

/**
 * What `list`, `overview` and the selection of `delete --to/--from` read of a message: its history and headers stay
 * behind, so a running gateway can answer for 50,000 messages without sending megabytes of replies nobody shows.
 */
export interface ListedEntry {
  id: string;
  mailFrom: string;
  /** `reply` only for a recipient that is no longer pending (delivered, failed, deleted): few in a live queue. */
  recipients: Array<Pick<QueueEntry['recipients'][number], 'address' | 'status' | 'reply'>>;
  receivedAt: number;
  size: number;
  attempts: number;
  nextAttemptAt: number;
  lastReply: string | null;
  held: boolean;
  verdict?: QueueEntry['verdict'];
  /** The login the client sent it under (AUTH or XCLIENT LOGIN=), for `moat queue --user`. */
  user?: string;
}

export function listedEntry(e: QueueEntry): ListedEntry {
  return {
    id: e.id, mailFrom: e.mailFrom, receivedAt: e.receivedAt,
    recipients: e.recipients.map((r) => (r.status === 'pending' || r.reply === undefined ? { address: r.address, status: r.status } : { address: r.address, status: r.status, reply: r.reply })),
    size: e.size, attempts: e.attempts, nextAttemptAt: e.nextAttemptAt, lastReply: e.lastReply ?? null, held: !!e.held,
    ...(e.verdict ? { verdict: e.verdict } : {}),
    ...(e.client?.user ? { user: e.client.user } : {}),
  };
}

const pendingOf = (e: ListedEntry) => e.recipients.filter((r) => r.status === 'pending').map((r) => r.address);

/** Where a message of `folder` stands, as `list` says it (`busy`: the ids being delivered now). */
export function stateOf(e: ListedEntry, folder: QueueFolder, busy: ReadonlySet<string>, now = Date.now()): ListRow['state'] {
  return folder === 'deadletter' ? 'dead' : folder === 'quarantine' ? 'quarantined'
    : e.held ? 'held' : busy.has(e.id) ? 'active' : e.nextAttemptAt > now ? 'deferred' : 'due';
}

export function listRow(e: ListedEntry, folder: QueueFolder, busy: ReadonlySet<string>, now = Date.now()): ListRow {
  const state = stateOf(e, folder, busy, now);
  return {
    id: e.id, age: now - e.receivedAt, receivedAt: e.receivedAt, sender: e.mailFrom, recipients: folder === 'queue' ? pendingOf(e) : e.recipients.map((r) => r.address),
    recipientStatus: e.recipients.map((r) => ({ ...r })),
    attempts: e.attempts, nextAttempt: folder === 'queue' && !e.held ? e.nextAttemptAt : null, lastReply: e.lastReply ?? null, state, size: e.size,
    ...(folder === 'quarantine' && e.verdict ? { verdict: e.verdict } : {}),
  };
}

/**
 * A folder's messages as the running gateway sees them: those its relay workers schedule come from their in-memory
 * entries (where memory and a state file differ, as after a flush, memory is what the workers will do); files are
 * read only for the rest (held messages, the quarantine, dead-letter). Reading 50,000 state files took seconds that
 * the relay workers' own entries answer at once.
 */
export async function listWithScheduled(store: QueueStore, scheduled: readonly QueueEntry[], folder: QueueFolder): Promise<ListedEntry[]> {
  if (folder !== 'queue') return (await store.list(folder)).map(listedEntry);
  const live = new Map(scheduled.map((e) => [e.id, listedEntry(e)]));
  const names = new Set(await readdir(store.dirs.queue));
  // An unscheduled message has both files: a hold writes the state file. A message file alone is one still arriving
  // (or committed a moment ago, about to be scheduled), and a state file alone is what a move cut short left behind;
  // neither is a message to list, and looking one up would read every journal segment.
  const unscheduled: string[] = [];
  for (const n of names) {
    const id = n.endsWith('.json') ? n.slice(0, -5) : undefined;
    if (id && !id.includes('.') && !live.has(id) && names.has(`${id}.eml`)) unscheduled.push(id);
  }
  const out = [...live.values()];
  for (const id of unscheduled) {
    const e = await store.load(id);
    if (e) out.push(listedEntry(e));
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

export interface DomainRow { domain: string; messages: number; recipients: number; oldest: number; held: number; deferred: number }

/** Messages and oldest age per destination domain of the pending recipients, busiest first. */
export function overview(entries: ListedEntry[], now = Date.now()): DomainRow[] {
  const rows = new Map<string, DomainRow & { ids: Set<string> }>();
  for (const e of entries) {
    for (const a of pendingOf(e)) {
      const d = domainOf(a);
      const r = rows.get(d) ?? { domain: d, messages: 0, recipients: 0, oldest: 0, held: 0, deferred: 0, ids: new Set<string>() };
      r.recipients++;
      if (!r.ids.has(e.id)) {
        r.ids.add(e.id);
        r.messages++;
        r.oldest = Math.max(r.oldest, now - e.receivedAt);
        if (e.held) r.held++;
        else if (e.nextAttemptAt > now) r.deferred++;
      }
      rows.set(d, r);
    }
  }
  return [...rows.values()].map(({ ids: _ids, ...r }) => r).sort((a, b) => b.messages - a.messages || b.oldest - a.oldest || (a.domain < b.domain ? -1 : 1));
}

export interface ShownMessage {
  folder: QueueFolder;
  entry: QueueEntry;
  headers: Array<{ name: string; value: string }>;
  /** The header section is longer than `show` reads: the fields past HEAD_BYTES are not listed. */
  headersCut: boolean;
  /** Why the message cannot be delivered as its state says (its file is cut short), when it cannot. */
  damaged?: string;
}

/** How much of a message `show` reads for its headers. */
export const HEAD_BYTES = 128 * 1024;

/** Header bytes (held one per char) as text: UTF-8 when they are (SMTPUTF8 mail), else Windows-1252, as mail clients read them. */
const headerText = (bytes: string) => decodeCharset(bytes, 'utf-8');

/** A message with its envelope, state, history and the headers it leaves with; looked for in every folder. */
export async function showMessage(store: QueueStore, id: string): Promise<ShownMessage | undefined> {
  for (const folder of ['queue', 'deadletter', 'quarantine'] as const) {
    const entry = await store.load(id, folder);
    if (!entry) continue;
    const head = await store.readHead(id, folder, HEAD_BYTES);
    const leaving = originalHeaders(entry, head);
    const headers = parseHeaderBlock(leaving).map((f) => ({ name: headerText(f.name), value: headerText(f.value) }));
    const damaged = store.cutShort(entry, folder);
    return { folder, entry, headers, headersCut: head.length >= HEAD_BYTES && headerEnd(head) < 0, ...(damaged ? { damaged } : {}) };
  }
  return undefined;
}

function escapeChar(c: string): string {
  const n = c.charCodeAt(0);
  return n > 0xff ? `\\u${n.toString(16).padStart(4, '0')}` : `\\x${n.toString(16).padStart(2, '0')}`;
}

/**
 * Text a remote party wrote (header values, replies, addresses) made safe for a terminal: control characters shown
 * as \xNN, so a message cannot move the cursor, clear the screen or retitle the admin's window; long values cut.
 */
export function forTerminal(text: string, max = 2000): string {
  const safe = text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, escapeChar);
  return safe.length > max ? `${safe.slice(0, max)}… (${safe.length - max} more characters)` : safe;
}

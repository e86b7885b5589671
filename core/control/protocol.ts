// The control channel's wire format: one JSON request per line, one JSON reply per line, over a unix socket in data_dir.
import path from 'node:path';
import type { AdminResult, AdminVerb } from '../queue/admin-ops.ts';
import type { ListedEntry } from '../queue/inspect.ts';
import type { QueueFolder } from '../queue/queue-store.ts';
import type { DigestOptions } from '../quarantine/digest.ts';

export type BulkAction = AdminVerb;

export type ControlRequest =
  | { op: 'ping' }
  | { op: 'status' }
  | { op: 'metrics' }
  | { op: 'list'; folder?: QueueFolder }
  | { op: 'flush'; id?: string }
  | { op: 'hold'; id: string }
  | { op: 'release'; id: string }
  | { op: 'delete'; id: string; to?: string }
  | { op: 'requeue'; id: string; to?: string }
  | { op: 'bulk'; action: BulkAction; ids: string[]; to?: string }
  | { op: 'reload' }
  /** The gateway stops in order, as on SIGTERM (`moat stop`); answered `stopping` at once, before the stop begins. */
  | { op: 'stop' }
  /** A quarantined message released to, or deleted for, one of its recipients (by the administrator). */
  | { op: 'recipient'; action: 'release' | 'delete'; id: string; address: string }
  /** A quarantine digest run now (`moat quarantine digest`); the reply is a DigestReport. */
  | ({ op: 'digest' } & DigestOptions)
  /** A message run through the live chain and kept nowhere (`moat check`); the reply is a CheckReport. */
  | ({ op: 'check' } & CheckRequest);

/** `moat check`'s message, base64 in the request line, and the envelope it is checked with. */
export interface CheckRequest { message: string; from: string; to: string[]; ip: string; helo: string; user?: string }

/** How a check request's line begins (the client writes `op` first): the server allows it a message's length. */
export const CHECK_LINE_START = '{"op":"check"';

export type ControlReply = { ok: true; result: unknown } | { ok: false; error: string };

export interface ControlStatus { pid: number; busy: string[]; scheduled: number }

/** A folder's messages as `list` and `overview` need them, sorted by id, and the ids being delivered right now. */
export interface ListReply { entries: ListedEntry[]; busy: string[] }

/** Per id: the action's result (flush: how many were due, 0 or 1), or in `errors` why it failed. */
export interface BulkReply { results: Record<string, AdminResult | number>; errors: Record<string, string> }

/** The certificate the listeners serve: its subject's CN (when it has one), SHA-256 fingerprint, and end (ISO 8601). */
export interface ServedCertificate { cn?: string; sha256: string; notAfter: string }

/**
 * What a config reload did. Refused: the reasons, each as one line (`key.path: message` for a schema error), and the
 * running config is kept. Reloaded: the keys whose value changed and now apply, and the restart-only keys whose new
 * value the file asks for but the gateway keeps until its next start. Key names only: values may hold credentials.
 */
export type ReloadReport =
  | {
    reloaded: true; file?: string; changed: string[]; restartOnly: string[]; plugins: string[]; disabled?: Array<{ name: string; reason: string }>; warnings?: string[];
    /** The certificate served from this reload on, when it is another than before (a renewal written to the same path too). */
    certificate?: ServedCertificate;
  }
  | { reloaded: false; file?: string; errors: string[] };

/** Ids in one bulk request: 1,000 ids of up to 40 characters stay well below the server's 64 KB line limit. */
export const BULK_IDS_MAX = 1000;

export const socketPath = (dataDir: string) => path.join(path.resolve(dataDir), 'control.sock');

/** Unix socket paths are limited to 107 bytes on Linux. */
export const SOCKET_PATH_MAX = 107;

// Ids name files (`<id>.eml`, `<id>.json`): anything beyond base-36 characters could reach outside the queue folder.
const QUEUE_ID = /^[0-9a-z]{6,40}$/;

/** Why `value` cannot be a queue id, or undefined when it can. */
export function queueIdProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'a queue id is required';
  if (QUEUE_ID.test(value)) return undefined;
  const shown = value.length > 48 ? `${value.slice(0, 48)}…` : value;
  return `not a queue id: ${JSON.stringify(shown)} (6 to 40 characters, 0-9 and a-z)`;
}

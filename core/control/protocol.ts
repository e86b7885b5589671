// The control channel's wire format: one JSON request per line, one JSON reply per line, over a unix socket in data_dir.
import path from 'node:path';

export type ControlRequest =
  | { op: 'ping' }
  | { op: 'status' }
  | { op: 'metrics' }
  | { op: 'flush'; id?: string }
  | { op: 'hold'; id: string }
  | { op: 'release'; id: string }
  | { op: 'delete'; id: string; to?: string };

export type ControlReply = { ok: true; result: unknown } | { ok: false; error: string };

export interface ControlStatus { pid: number; busy: string[]; scheduled: number }

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

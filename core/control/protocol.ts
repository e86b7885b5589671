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

// Revoking one mailbox's quarantine links (`moat quarantine revoke ADDRESS`), as an administrator must when a digest
// was forwarded or its link leaked: every ticket issued for that address before the revocation stops working, tickets
// of later digests work, and nobody else's links change (replacing quarantine.key would end everyone's). Kept in
// data_dir/quarantine-revoked.json, one time per address, written whole (temporary file, fsync, rename) so a crash
// never leaves half a file; the gateway reads it again whenever it changed on disk, so a revocation applies at once,
// with or without a running gateway.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../log/types.ts';
import { mailboxOf } from './mailbox.ts';

export const REVOCATIONS_FILE = 'quarantine-revoked.json';

/** One address's revocation: tickets issued at or before `since` are refused. */
export interface Revocation { since: number; by?: string }

type RevokedMap = ReadonlyMap<string, Revocation>;

/** The key an address is revoked under: the whole address, lower case, its domain in A-label form. */
export const revocationKey = (address: string): string => mailboxOf(address, '');

const fileOf = (dataDir: string) => path.join(dataDir, REVOCATIONS_FILE);

function parse(text: string): Map<string, Revocation> {
  const raw = JSON.parse(text) as { revoked?: Record<string, { since?: unknown; by?: unknown }> };
  const out = new Map<string, Revocation>();
  for (const [address, r] of Object.entries(raw?.revoked ?? {})) {
    if (typeof r?.since === 'number' && Number.isFinite(r.since)) out.set(address, { since: r.since, ...(typeof r.by === 'string' ? { by: r.by } : {}) });
  }
  return out;
}

/** The revocations on disk; none when there is no file. Throws when the file is there but cannot be read. */
export function readRevocations(dataDir: string): Map<string, Revocation> {
  let text: string;
  try { text = readFileSync(fileOf(dataDir), 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw e;
  }
  return parse(text);
}

function account(): string {
  try { return os.userInfo().username; } catch { return `uid ${process.getuid?.() ?? '?'}`; }
}

/**
 * Revokes every ticket issued for `address` until now; returns the key and the time written. A second revocation of
 * the same address moves its time on.
 */
export function revokeAddress(dataDir: string, address: string, now = Date.now()): { key: string; since: number } {
  const key = revocationKey(address);
  const all = readRevocations(dataDir);
  all.set(key, { since: now, by: account() });
  const revoked = Object.fromEntries([...all].map(([a, r]) => [a, { since: r.since, at: new Date(r.since).toISOString(), ...(r.by ? { by: r.by } : {}) }]));
  const file = fileOf(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ revoked }, null, 1)}\n`);
    fsyncSync(fd);
  } finally { closeSync(fd); }
  renameSync(tmp, file);
  // The rename is durable once the folder's entry is.
  const dir = openSync(dataDir, 'r');
  try { fsyncSync(dir); } finally { closeSync(dir); }
  return { key, since: now };
}

/** Why the revocations refuse a ticket, as the refusal's log line gives it. */
export type RevokedReason = 'revoked' | 'revocations unreadable';

/**
 * The revocations as the running gateway sees them: the file read again whenever it changed (a stat per check, which
 * costs microseconds), each new revocation logged once. A file that cannot be read refuses every ticket, logged as an
 * error, until it can: a revocation that could not be read must not let the link it ended back in.
 */
export class Revocations {
  private readonly dataDir: string;
  private readonly log: Logger | undefined;
  private seen = '';
  private map: RevokedMap = new Map();
  private unreadable = false;

  constructor(dataDir: string, log?: Logger) {
    this.dataDir = dataDir;
    this.log = log;
    // The revocations already there at the start were logged when they were first read.
    this.refresh(false);
  }

  /**
   * Whether a ticket for `address` issued at `issued` (absent: before the time was kept, so before any revocation) is
   * revoked, by its whole address or by the mailbox it is part of under `delimiters`: why, or undefined when it is not.
   */
  refuses(address: string, issued: number | undefined, delimiters: string): RevokedReason | undefined {
    this.refresh(true);
    if (this.unreadable) return 'revocations unreadable';
    for (const key of new Set([revocationKey(address), mailboxOf(address, delimiters)])) {
      const r = this.map.get(key);
      if (r && (issued === undefined || issued <= r.since)) return 'revoked';
    }
    return undefined;
  }

  private refresh(logNew: boolean): void {
    let stamp: string;
    try {
      const st = statSync(path.join(this.dataDir, REVOCATIONS_FILE));
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (e) {
      stamp = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'none' : `error:${(e as NodeJS.ErrnoException).code}`;
    }
    if (stamp === this.seen) return;
    this.seen = stamp;
    let next: Map<string, Revocation>;
    try { next = readRevocations(this.dataDir); } catch (e) {
      this.unreadable = true;
      this.log?.error('quarantine link revocations cannot be read: every quarantine link is refused until they can', {
        path: path.join(this.dataDir, REVOCATIONS_FILE), error: (e as Error).message });
      return;
    }
    if (this.unreadable) this.log?.info('quarantine link revocations can be read again', {});
    this.unreadable = false;
    if (logNew) {
      for (const [address, r] of next) {
        if (this.map.get(address)?.since === r.since) continue;
        this.log?.info('quarantine links revoked', { to: [address], revoked_at: new Date(r.since).toISOString(), ...(r.by ? { by: r.by } : {}) });
      }
    }
    this.map = next;
  }
}

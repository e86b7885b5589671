// When the last digest went out, kept in data_dir/quarantine-digest.json: the next digest lists what arrived since.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';

export const DIGEST_STATE_FILE = 'quarantine-digest.json';

/** The time of the last digest (ms), or undefined when none was sent (or the file cannot be read). */
export function readLastDigest(dataDir: string): number | undefined {
  try {
    const v = (JSON.parse(readFileSync(path.join(dataDir, DIGEST_STATE_FILE), 'utf8')) as { last_run?: unknown }).last_run;
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  } catch { return undefined; }
}

/** Written whole or not at all (temp file, fsync, rename): a torn file would make the next digest list everything. */
export function writeLastDigest(dataDir: string, at: number): void {
  const file = path.join(dataDir, DIGEST_STATE_FILE);
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try { writeSync(fd, JSON.stringify({ last_run: at, at: new Date(at).toISOString() })); fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, file);
}

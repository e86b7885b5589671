// The reload request: `moat bayes reload` rewrites `<data_dir>/bayes/reload`; every bayes plugin instance
// watching that data_dir notices the new modification time and reloads its dictionary from disk.
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from './engine/persist.ts';

export function reloadRequestPath(dataDir: string): string {
  return path.join(dataDir, 'bayes', 'reload');
}

/** Asks running gateways that use `dataDir` to reload; returns the request file's path. */
export async function requestReload(dataDir: string): Promise<string> {
  const file = reloadRequestPath(dataDir);
  await writeFileAtomic(file, `${new Date().toISOString()} pid ${process.pid}\n`);
  return file;
}

/** Modification time of the request file, 0 when there is none. */
export async function reloadRequestTime(dataDir: string): Promise<number> {
  try { return (await fsp.stat(reloadRequestPath(dataDir))).mtimeMs; } catch { return 0; }
}

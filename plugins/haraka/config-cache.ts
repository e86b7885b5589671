// haraka-config keeps every file it read in one process-wide cache and re-reads a changed file only 5 s after the
// change (its watch.js), so an entry built by a reload right after an edit would get the old contents. A new entry
// empties that cache first, so its plugins read the files as they are on disk now.
import path from 'node:path';
import { requireCjs, type Any } from './cjs.ts';

/** haraka-config's reader: the same module instance haraka-config itself uses (no `exports` map hides it). */
function reader(): Any {
  return requireCjs(path.join(path.dirname(requireCjs.resolve('haraka-config')), 'lib', 'reader.js'));
}

/** What the cache held before forgetCachedConfig(), to put back for files the new read could not parse. */
export type CachedConfig = Record<string, Any>;

/**
 * Forgets every cached file and every recorded read error, so the next `config.get` of each reads the disk.
 * Entries that a JSON file's `!name` keys put in place of another file stay: they have no file of their own to re-read.
 */
export function forgetCachedConfig(): CachedConfig {
  const r = reader();
  const previous: CachedConfig = { ...r._config_cache };
  for (const key of Object.keys(r._config_cache)) {
    if (!r._overrides[key]) delete r._config_cache[key];
  }
  for (const key of Object.keys(r._load_errors ?? {})) delete r._load_errors[key];
  return previous;
}

export interface ReadError { key: string; file: string; error: string }

/** The files under `dir` that failed to parse since the last forgetCachedConfig(), with haraka-config's message. */
export function configReadErrors(dir: string): ReadError[] {
  const r = reader();
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  const out: ReadError[] = [];
  for (const [key, err] of Object.entries(r._load_errors ?? {})) {
    // keys are the file's path, followed by the read options as JSON when there were any
    if (key.startsWith(prefix)) out.push({ key, file: key.replace(/\{.*$/s, ''), error: (err as Error).message });
  }
  return out;
}

/**
 * Puts back what the cache held for files that could not be parsed: the entries still running (a refused reload
 * keeps them) read those files at hook time, and haraka-config itself keeps the last good contents on a failed re-read.
 */
export function restoreCachedConfig(previous: CachedConfig, failed: ReadError[]): void {
  const r = reader();
  for (const { key } of failed) {
    if (previous[key] !== undefined) r._config_cache[key] = previous[key];
  }
}

// What a Redis state store keeps across its own restart, for `moat doctor`: a Redis with neither RDB snapshots
// (`save ''`) nor an append-only file (`appendonly no`) comes back empty, and the user lists, greylist passes, the
// admin's `greylist allow` entries and the shared Bayes counts go with it, with nothing in any log saying so.
import { Redis } from 'ioredis';
import type { CheckLine } from './doctor.ts';

/** What `CONFIG GET save` and `CONFIG GET appendonly` answered, or why they were not answered. */
export type Persistence = { save: string; appendonly: string } | { unknown: string };

/** Asks the server at `url` how it persists; a refused CONFIG (renamed, or not allowed by an ACL) is `unknown`. */
export async function readPersistence(url: string, timeoutMs = 2000): Promise<Persistence> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => { /* the command's own failure says it */ });
  try {
    await r.connect();
    const [save, appendonly] = await Promise.all([r.config('GET', 'save'), r.config('GET', 'appendonly')]) as [string[], string[]];
    // A CONFIG that answers with nothing (a proxy, a managed service) says no more than a refusal.
    if (save.length < 2 || appendonly.length < 2) return { unknown: 'CONFIG GET gave no value' };
    return { save: save[1], appendonly: appendonly[1] };
  } catch (err) {
    return { unknown: (err as Error).message.split('\n')[0] };
  } finally {
    r.disconnect();
  }
}

/** The doctor line for what the server keeps: warn for nothing, a note for unknown, nothing to add when it persists. */
export function persistenceLine(where: string, p: Persistence): CheckLine | undefined {
  if ('unknown' in p) {
    return { status: 'note', text: `persistence of redis at ${where} unknown: CONFIG GET refused (${p.unknown}); make sure it keeps its data across a restart (appendonly yes, or a save schedule)` };
  }
  if (p.save.trim() !== '' || p.appendonly !== 'no') return undefined;
  return {
    status: 'warn',
    text: `redis at ${where} keeps nothing across a restart (save '' and appendonly no): user lists, greylist passes, `
      + '`greylist allow` entries and the shared Bayes counts are lost when it restarts; set `appendonly yes` '
      + '(or a save schedule such as `save 3600 1 300 100`) in redis.conf, or `CONFIG SET appendonly yes` then `CONFIG REWRITE`',
  };
}

// Opens the configured state store: the embedded SQLite file under data_dir (default) or Redis.
import { redactUrl } from '../log/logger.ts';
import path from 'node:path';
import type { StateConfig } from './config.ts';
import type { StateStore } from './types.ts';
import type { Logger } from '../log/types.ts';
import { EmbeddedStore } from './embedded-store.ts';

export { EmbeddedStore } from './embedded-store.ts';
export { MemoryStore } from './memory-store.ts';

/** Where the embedded store keeps its file. */
export function embeddedStoreFile(dataDir: string): string {
  return path.join(dataDir, 'state', 'state.db');
}

export interface OpenStoreOptions {
  /**
   * Open a Redis store whose server does not answer yet (logged as an error; it reconnects by itself), rather
   * than throw. The gateway sets it: one Redis outage at boot must not stop mail whose checks can do without.
   */
  startUnreachable?: boolean;
}

/**
 * Opens the store `cfg` selects. Throws when it cannot (unreadable file; unreachable Redis unless
 * `startUnreachable`), so nothing runs with state silently missing.
 */
export async function openStore(cfg: StateConfig, dataDir: string, log?: Logger, opts: OpenStoreOptions = {}): Promise<StateStore> {
  if (cfg.backend === 'redis') {
    // Loaded only when chosen: the Redis client costs about 13 MB of memory in every gateway that never uses it.
    const { RedisStore } = await import('./redis-store.ts');
    const store = await RedisStore.connect(cfg.redis.url, { prefix: cfg.redis.prefix, log, startUnreachable: opts.startUnreachable });
    log?.info('state store: redis', { url: redactUrl(cfg.redis.url), prefix: cfg.redis.prefix });
    return store;
  }
  const file = embeddedStoreFile(dataDir);
  const store = new EmbeddedStore(file, { purgeIntervalMs: cfg.purge_interval, log });
  log?.info('state store: embedded', { file });
  return store;
}

// Opens the configured state store. (Placeholder: an in-memory store until the embedded and Redis stores land.)
import type { StateConfig } from './config.ts';
import type { StateStore } from './types.ts';
import type { Logger } from '../log/types.ts';
import { MemoryStore } from './memory-store.ts';

export async function openStore(_cfg: StateConfig, _dataDir: string, _log?: Logger): Promise<StateStore> {
  return new MemoryStore();
}

// Config schema of the state store (`state:` in mailmoat.yaml).
import { s, TIMER_MAX_MS } from '../config/schema.ts';

export const stateConfigSchema = s.object({
  backend: s.enum(['embedded', 'redis'] as const).default('embedded').describe('embedded (a file under data_dir, no server) or redis (shared by several gateways)'),
  redis: s.object({
    url: s.string({ pattern: /^rediss?:\/\//, patternName: 'redis://[user:pass@]host:port[/db] or rediss://…' }).default('redis://127.0.0.1:6379').describe('Redis URL for `backend: redis`'),
    prefix: s.string().default('mailmoat:').describe('Prefix of every key'),
  }).default({} as never),
  // 0, or more than a timer can wait, would run the purge every millisecond.
  purge_interval: s.duration({ min: 1, max: TIMER_MAX_MS }).default(600_000).describe('How often the embedded store removes expired entries'),
}).default({} as never);

export type StateConfig = { backend: 'embedded' | 'redis'; redis: { url: string; prefix: string }; purge_interval: number };

// Config schema of the state store (`state:` in mailmoat.yaml).
import { s, TIMER_MAX_MS, type Issue } from '../config/schema.ts';

/**
 * Why `v` cannot be read as redis(s)://[user:pass@]host[:port][/db], or undefined: refused with the config rather than
 * found at start, or never (the store starts unreachable and keeps retrying). The value is never quoted: it may hold
 * a password.
 */
export function redisUrlProblem(v: string): string | undefined {
  let u: URL;
  try { u = new URL(v); } catch { return "is not a URL (a port must be a number; a '/', '@', ':' or '%' in the password must be percent-encoded)"; }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return 'must start with redis:// or rediss://';
  if (!u.hostname) return 'names no host';
  if (!/^(\/\d{0,2})?$/.test(u.pathname)) return 'has a path that is not a database number (/0 … /15)';
  try { decodeURIComponent(u.username); decodeURIComponent(u.password); } catch { return 'has a user or password whose percent-encoding is broken'; }
  return undefined;
}

const redisUrl = s.checked(s.string({ pattern: /^rediss?:\/\//, patternName: 'redis://[user:pass@]host:port[/db] or rediss://…' }), (v: string, path: string, issues: Issue[]) => {
  const problem = redisUrlProblem(v);
  if (problem) issues.push({ path, message: problem });
});

export const stateConfigSchema = s.object({
  backend: s.enum(['embedded', 'redis'] as const).default('embedded').describe('embedded (a file under data_dir, no server) or redis (shared by several gateways)'),
  redis: s.object({
    url: redisUrl.default('redis://127.0.0.1:6379').describe('Redis URL for `backend: redis`'),
    prefix: s.string().default('mailmoat:').describe('Prefix of every key'),
  }).default({} as never),
  // 0, or more than a timer can wait, would run the purge every millisecond.
  purge_interval: s.duration({ min: 1, max: TIMER_MAX_MS }).default(600_000).describe('How often the embedded store removes expired entries'),
}).default({} as never);

export type StateConfig = { backend: 'embedded' | 'redis'; redis: { url: string; prefix: string }; purge_interval: number };

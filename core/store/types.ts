// The state store interface: greylisting, Bayes counts, rate limits and IP blocks share it (core/store implements it).

export interface StateStore {
  get(key: string): Promise<string | null>;
  /** Sets a value; `ttlMs` makes it expire. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  del(key: string): Promise<void>;
  /** Atomically adds `by` (default 1) and returns the new value; `ttlMs` sets the expiry when the key is created. */
  incr(key: string, by?: number, ttlMs?: number): Promise<number>;
  sadd(key: string, member: string, ttlMs?: number): Promise<void>;
  srem(key: string, member: string): Promise<void>;
  smembers(key: string): Promise<string[]>;
  sismember(key: string, member: string): Promise<boolean>;
  /** Remaining time to live in ms, -1 without expiry, -2 when absent. */
  ttl(key: string): Promise<number>;
  /** Entries whose key starts with `prefix` (not expired). */
  scan(prefix: string): AsyncIterable<[key: string, value: string]>;
  /** Removes expired entries; returns how many went. */
  purgeExpired(): Promise<number>;
  close(): Promise<void>;
}

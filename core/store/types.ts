// The state store interface: greylisting, Bayes counts, rate limits and IP blocks share it (core/store implements it).

/**
 * Keys are plain strings (by convention `<area>:<kind>:<id>`, e.g. `greylist:pass:192.0.2.0/24`); a key holds
 * either a string (get/set/incr) or a set (sadd/srem/smembers), never both. Every implementation passes the same
 * contract suite (test/core/store/contract.ts), so code written against one behaves the same on the others.
 */
export interface StateStore {
  get(key: string): Promise<string | null>;
  /** Sets a value; `ttlMs` makes it expire (without it, the value keeps no expiry, even if it had one). */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Sets a value only when the key is absent (or expired), atomically even across processes; true when it was set. */
  add(key: string, value: string, ttlMs?: number): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Atomically adds `by` (default 1) and returns the new value; `ttlMs` sets the expiry when the key is created. */
  incr(key: string, by?: number, ttlMs?: number): Promise<number>;
  /** Sets a new time to live on an existing key; false when the key is absent. */
  expire(key: string, ttlMs: number): Promise<boolean>;
  /** Adds a member; `ttlMs` sets the expiry when the set is created. */
  sadd(key: string, member: string, ttlMs?: number): Promise<void>;
  /** Removes a member; a set left empty is deleted. */
  srem(key: string, member: string): Promise<void>;
  smembers(key: string): Promise<string[]>;
  sismember(key: string, member: string): Promise<boolean>;
  /** Remaining time to live in ms, -1 without expiry, -2 when absent. */
  ttl(key: string): Promise<number>;
  /** Entries whose key starts with `prefix` (not expired), in no set order; a set's value is its members, sorted and joined by `,`. */
  scan(prefix: string): AsyncIterable<[key: string, value: string]>;
  /**
   * Runs a Lua script on the server as one step (each key gets the store's prefix), for work on several keys
   * that must happen wholly or not at all. Only a store that is a server has it (Redis); the name is the
   * script's: it is sent once, then called by its digest.
   */
  script?(name: string, lua: string, keys: string[], args: Array<string | number>): Promise<unknown>;
  /**
   * Why the store cannot be used now, or undefined when it can, settled within `timeoutMs` (GET /health/ready asks).
   * Only a store that is a server has it (Redis); the embedded file fails with the disk, which readiness watches already.
   */
  unavailableBecause?(timeoutMs: number): Promise<string | undefined>;
  /** Removes expired entries; returns how many went (Redis expires keys by itself and returns 0). */
  purgeExpired(): Promise<number>;
  close(): Promise<void>;
}

// An in-process state store with expiry; for unit tests and as a stand-in where nothing must outlive the process.
import type { StateStore } from './types.ts';

interface Entry { value: string | Set<string>; expires: number }

const expiryOf = (ttlMs?: number) => (ttlMs && ttlMs > 0 ? Date.now() + ttlMs : 0);

export class MemoryStore implements StateStore {
  private readonly map = new Map<string, Entry>();
  private live(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (e && e.expires && e.expires <= Date.now()) { this.map.delete(key); return undefined; }
    return e;
  }
  async get(key: string) { const e = this.live(key); return e && typeof e.value === 'string' ? e.value : null; }
  async set(key: string, value: string, ttlMs?: number) { this.map.set(key, { value, expires: expiryOf(ttlMs) }); }
  async add(key: string, value: string, ttlMs?: number) {
    if (this.live(key)) return false;
    this.map.set(key, { value, expires: expiryOf(ttlMs) });
    return true;
  }
  async del(key: string) { this.map.delete(key); }
  async incr(key: string, by = 1, ttlMs?: number) {
    const e = this.live(key);
    const n = (e && typeof e.value === 'string' ? Number(e.value) : 0) + by;
    this.map.set(key, { value: String(n), expires: e ? e.expires : expiryOf(ttlMs) });
    return n;
  }
  async expire(key: string, ttlMs: number) {
    const e = this.live(key);
    if (!e) return false;
    e.expires = expiryOf(ttlMs);
    return true;
  }
  async sadd(key: string, member: string, ttlMs?: number) {
    const e = this.live(key);
    if (e && e.value instanceof Set) e.value.add(member);
    else this.map.set(key, { value: new Set([member]), expires: expiryOf(ttlMs) });
  }
  async srem(key: string, member: string) {
    const e = this.live(key);
    if (e && e.value instanceof Set) { e.value.delete(member); if (e.value.size === 0) this.map.delete(key); }
  }
  async smembers(key: string) { const e = this.live(key); return e && e.value instanceof Set ? [...e.value] : []; }
  async sismember(key: string, member: string) { const e = this.live(key); return !!(e && e.value instanceof Set && e.value.has(member)); }
  async ttl(key: string) { const e = this.live(key); return !e ? -2 : e.expires ? Math.max(0, e.expires - Date.now()) : -1; }
  async *scan(prefix: string): AsyncIterable<[string, string]> {
    for (const k of [...this.map.keys()]) {
      if (!k.startsWith(prefix)) continue;
      const e = this.live(k);
      if (e) yield [k, typeof e.value === 'string' ? e.value : [...e.value].sort().join(',')];
    }
  }
  async purgeExpired() {
    let n = 0;
    const now = Date.now();
    for (const [k, e] of this.map) if (e.expires && e.expires <= now) { this.map.delete(k); n++; }
    return n;
  }
  async close() { this.map.clear(); }
}

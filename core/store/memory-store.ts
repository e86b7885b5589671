// An in-process state store with expiry; used by unit tests and as a stand-in.
import type { StateStore } from './types.ts';

interface Entry { value: string | Set<string>; expires: number }

export class MemoryStore implements StateStore {
  private readonly map = new Map<string, Entry>();
  private live(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (e && e.expires && e.expires <= Date.now()) { this.map.delete(key); return undefined; }
    return e;
  }
  async get(key: string) { const e = this.live(key); return e && typeof e.value === 'string' ? e.value : null; }
  async set(key: string, value: string, ttlMs?: number) { this.map.set(key, { value, expires: ttlMs ? Date.now() + ttlMs : 0 }); }
  async del(key: string) { this.map.delete(key); }
  async incr(key: string, by = 1, ttlMs?: number) {
    const e = this.live(key);
    const n = (e && typeof e.value === 'string' ? Number(e.value) : 0) + by;
    this.map.set(key, { value: String(n), expires: e ? e.expires : ttlMs ? Date.now() + ttlMs : 0 });
    return n;
  }
  async sadd(key: string, member: string, ttlMs?: number) {
    const e = this.live(key);
    if (e && e.value instanceof Set) e.value.add(member);
    else this.map.set(key, { value: new Set([member]), expires: ttlMs ? Date.now() + ttlMs : 0 });
  }
  async srem(key: string, member: string) { const e = this.live(key); if (e && e.value instanceof Set) e.value.delete(member); }
  async smembers(key: string) { const e = this.live(key); return e && e.value instanceof Set ? [...e.value] : []; }
  async sismember(key: string, member: string) { const e = this.live(key); return !!(e && e.value instanceof Set && e.value.has(member)); }
  async ttl(key: string) { const e = this.live(key); return !e ? -2 : e.expires ? e.expires - Date.now() : -1; }
  async *scan(prefix: string): AsyncIterable<[string, string]> {
    for (const k of [...this.map.keys()]) {
      if (!k.startsWith(prefix)) continue;
      const e = this.live(k);
      if (e) yield [k, typeof e.value === 'string' ? e.value : [...e.value].join(',')];
    }
  }
  async purgeExpired() { let n = 0; for (const k of [...this.map.keys()]) { const e = this.map.get(k)!; if (e.expires && e.expires <= Date.now()) { this.map.delete(k); n++; } } return n; }
  async close() { this.map.clear(); }
}

// The embedded state store: one SQLite file (node:sqlite, WAL) under data_dir, shared safely by every process on the host.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { StateStore } from './types.ts';
import type { Logger } from '../log/types.ts';

// `v` has no declared type so counters stay numbers and strings stay text; `is_set` rows keep their members in `members`.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v, exp INTEGER NOT NULL DEFAULT 0, is_set INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_exp ON kv (exp) WHERE exp > 0;
CREATE TABLE IF NOT EXISTS members (k TEXT NOT NULL, m TEXT NOT NULL, PRIMARY KEY (k, m)) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS kv_delete_members AFTER DELETE ON kv WHEN old.is_set = 1
  BEGIN DELETE FROM members WHERE k = old.k; END;
CREATE TRIGGER IF NOT EXISTS kv_unset_members AFTER UPDATE OF is_set ON kv WHEN old.is_set = 1 AND new.is_set = 0
  BEGIN DELETE FROM members WHERE k = old.k; END;
`;

const LIVE = '(exp = 0 OR exp > :now)';
const EXPIRED = '(kv.exp > 0 AND kv.exp <= :now)';
// The highest code point sorts after every UTF-8 string that starts with the prefix (SQLite compares text bytewise).
const PREFIX_END = String.fromCodePoint(0x10ffff);
const PAGE = 500;

export interface EmbeddedStoreOptions {
  /** How often expired entries are deleted (0 turns the timer off). */
  purgeIntervalMs?: number;
  log?: Logger;
  /** How long a write waits for another process holding the write lock. */
  busyTimeoutMs?: number;
}

const expiryOf = (ttlMs?: number) => (ttlMs && ttlMs > 0 ? Date.now() + ttlMs : 0);

export class EmbeddedStore implements StateStore {
  readonly file: string;
  private readonly db: DatabaseSync;
  private readonly q: Record<string, StatementSync>;
  private readonly log?: Logger;
  private timer?: NodeJS.Timeout;
  private purging?: Promise<number>;
  private closed = false;

  constructor(file: string, opts: EmbeddedStoreOptions = {}) {
    this.file = file;
    this.log = opts.log;
    mkdirSync(path.dirname(file), { recursive: true });
    this.db = new DatabaseSync(file, { timeout: opts.busyTimeoutMs ?? 5000 });
    // WAL + synchronous=NORMAL: a killed process loses nothing it committed and never corrupts the file;
    // only a power cut can drop the last few commits, which greylist and counter state can afford.
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    this.db.exec(SCHEMA);
    const p = (sql: string) => this.db.prepare(sql);
    this.q = {
      get: p(`SELECT v FROM kv WHERE k = :k AND is_set = 0 AND ${LIVE}`),
      set: p(`INSERT INTO kv (k, v, exp, is_set) VALUES (:k, :v, :exp, 0)
              ON CONFLICT (k) DO UPDATE SET v = excluded.v, exp = excluded.exp, is_set = 0`),
      add: p(`INSERT INTO kv (k, v, exp, is_set) VALUES (:k, :v, :exp, 0)
              ON CONFLICT (k) DO UPDATE SET v = excluded.v, exp = excluded.exp, is_set = 0 WHERE ${EXPIRED}`),
      del: p('DELETE FROM kv WHERE k = :k'),
      incr: p(`INSERT INTO kv (k, v, exp, is_set) VALUES (:k, :by, :exp, 0)
              ON CONFLICT (k) DO UPDATE SET
                v = CASE WHEN ${EXPIRED} OR kv.is_set = 1 THEN :by ELSE kv.v + :by END,
                exp = CASE WHEN ${EXPIRED} OR kv.is_set = 1 THEN excluded.exp ELSE kv.exp END,
                is_set = 0
              RETURNING v`),
      expire: p(`UPDATE kv SET exp = :exp WHERE k = :k AND ${LIVE}`),
      dropStale: p(`DELETE FROM kv WHERE k = :k AND (is_set = 0 OR ${EXPIRED.replaceAll('kv.', '')})`),
      newSet: p('INSERT INTO kv (k, v, exp, is_set) VALUES (:k, NULL, :exp, 1) ON CONFLICT (k) DO NOTHING'),
      addMember: p('INSERT OR IGNORE INTO members (k, m) VALUES (:k, :m)'),
      remMember: p('DELETE FROM members WHERE k = :k AND m = :m'),
      dropEmpty: p('DELETE FROM kv WHERE k = :k AND is_set = 1 AND NOT EXISTS (SELECT 1 FROM members WHERE k = :k)'),
      members: p(`SELECT m FROM members WHERE k = :k AND EXISTS (SELECT 1 FROM kv WHERE k = :k AND is_set = 1 AND ${LIVE}) ORDER BY m`),
      isMember: p(`SELECT 1 AS x FROM members WHERE k = :k AND m = :m AND EXISTS (SELECT 1 FROM kv WHERE k = :k AND is_set = 1 AND ${LIVE})`),
      ttl: p(`SELECT exp FROM kv WHERE k = :k AND ${LIVE}`),
      scanFirst: p(`SELECT k, v, is_set FROM kv WHERE k >= :after AND k < :end AND ${LIVE} ORDER BY k LIMIT ${PAGE}`),
      scanNext: p(`SELECT k, v, is_set FROM kv WHERE k > :after AND k < :end AND ${LIVE} ORDER BY k LIMIT ${PAGE}`),
      purge: p(`DELETE FROM kv WHERE k IN (SELECT k FROM kv WHERE exp > 0 AND exp <= :now LIMIT 1000)`),
    };
    const every = opts.purgeIntervalMs ?? 600_000;
    if (every > 0) {
      this.timer = setInterval(() => {
        this.purgeExpired().catch((err) => this.log?.warn('state store purge failed', { error: String(err) }));
      }, every);
      this.timer.unref();
    }
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE takes the lock up front, so no other process interleaves). */
  private tx<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const r = fn();
      this.db.exec('COMMIT');
      return r;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  async get(key: string) {
    const row = this.q.get.get({ k: key, now: Date.now() }) as { v: unknown } | undefined;
    return row ? String(row.v) : null;
  }
  async set(key: string, value: string, ttlMs?: number) { this.q.set.run({ k: key, v: value, exp: expiryOf(ttlMs) }); }
  async add(key: string, value: string, ttlMs?: number) {
    return Number(this.q.add.run({ k: key, v: value, exp: expiryOf(ttlMs), now: Date.now() }).changes) > 0;
  }
  async del(key: string) { this.q.del.run({ k: key }); }
  async incr(key: string, by = 1, ttlMs?: number) {
    const row = this.q.incr.get({ k: key, by, exp: expiryOf(ttlMs), now: Date.now() }) as { v: unknown };
    return Number(row.v);
  }
  async expire(key: string, ttlMs: number) {
    return Number(this.q.expire.run({ k: key, exp: expiryOf(ttlMs), now: Date.now() }).changes) > 0;
  }
  async sadd(key: string, member: string, ttlMs?: number) {
    this.tx(() => {
      this.q.dropStale.run({ k: key, now: Date.now() });
      this.q.newSet.run({ k: key, exp: expiryOf(ttlMs) });
      this.q.addMember.run({ k: key, m: member });
    });
  }
  async srem(key: string, member: string) {
    this.tx(() => {
      this.q.remMember.run({ k: key, m: member });
      this.q.dropEmpty.run({ k: key });
    });
  }
  async smembers(key: string) {
    return (this.q.members.all({ k: key, now: Date.now() }) as { m: string }[]).map((r) => r.m);
  }
  async sismember(key: string, member: string) { return this.q.isMember.get({ k: key, m: member, now: Date.now() }) !== undefined; }
  async ttl(key: string) {
    const row = this.q.ttl.get({ k: key, now: Date.now() }) as { exp: number } | undefined;
    return !row ? -2 : row.exp ? Math.max(0, row.exp - Date.now()) : -1;
  }
  async *scan(prefix: string): AsyncIterable<[string, string]> {
    // Pages by key, so a long scan neither holds a statement open across awaits nor blocks the event loop.
    let after = prefix;
    for (let stmt = this.q.scanFirst; ; stmt = this.q.scanNext) {
      const rows = stmt.all({ after, end: prefix + PREFIX_END, now: Date.now() }) as { k: string; v: unknown; is_set: number }[];
      for (const r of rows) {
        yield [r.k, r.is_set ? (await this.smembers(r.k)).join(',') : String(r.v)];
      }
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1].k;
    }
  }
  /** Deletes expired entries in batches, yielding to the event loop between them so mail keeps flowing. */
  purgeExpired(): Promise<number> {
    if (this.purging) return this.purging;
    this.purging = (async () => {
      let total = 0;
      for (;;) {
        if (this.closed) return total;
        const n = Number(this.q.purge.run({ now: Date.now() }).changes);
        total += n;
        if (n < 1000) break;
        await new Promise((r) => setImmediate(r));
      }
      if (total) this.log?.debug('state store purged expired entries', { count: total });
      return total;
    })().finally(() => { this.purging = undefined; });
    return this.purging;
  }
  async close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.purging?.catch(() => 0);
    this.db.close();
  }
}

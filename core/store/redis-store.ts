// The Redis state store (ioredis): for several gateways sharing greylist entries, counters and blocks; keys expire by themselves.
import { redactUrl } from '../log/logger.ts';
import { Redis } from 'ioredis';
import type { StateStore } from './types.ts';
import { RedisHealth, StoreUnavailableError } from './redis-health.ts';
import type { Logger } from '../log/types.ts';

// Lua keeps "set the expiry only when the key is created" atomic with the write itself.
const INCR = `
local existed = redis.call('EXISTS', KEYS[1])
local v
if ARGV[3] == '1' then v = redis.call('INCRBY', KEYS[1], ARGV[1]) else v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]) end
if existed == 0 and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return tostring(v)`;
const SADD = `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`;

const SCAN_COUNT = 500;

/** A glob pattern that matches exactly the keys starting with `prefix`. */
function globPrefix(prefix: string): string {
  return prefix.replace(/[*?[\]\\^]/g, (c) => '\\' + c) + '*';
}

/** A pipeline's answers; a lost connection fails the read rather than leaving keys out as if they held nothing. */
function answers(res: Array<[Error | null, unknown]> | null): Array<[Error | null, unknown]> {
  for (const [err] of res ?? []) if (err && err.name !== 'ReplyError') throw err;
  return res ?? [];
}

export interface RedisStoreOptions {
  /** Prefix of every key (kept out of the keys the interface hands back). */
  prefix?: string;
  log?: Logger;
  /** A command that gets no answer within this time fails instead of hanging an SMTP session. */
  commandTimeoutMs?: number;
  /** How long opening may take, from the TCP connect to the first PING's answer (a hung server answers neither). */
  connectTimeoutMs?: number;
  /** How often a store known to be down while its connection stays open is asked whether it answers again. */
  probeIntervalMs?: number;
  /**
   * Hand back the store even when the server does not answer yet, reconnecting in the background. A gateway
   * wants this: its checks follow their own store-failure policy until Redis is back, as Postfix answers a
   * failed table lookup with a temporary error rather than refusing to run. A one-off command wants to fail.
   */
  startUnreachable?: boolean;
}

export class RedisStore implements StateStore {
  private readonly r: Redis;
  private readonly prefix: string;
  private readonly health: RedisHealth;

  private constructor(r: Redis, prefix: string, health: RedisHealth) {
    this.r = r;
    this.prefix = prefix;
    this.health = health;
    // defineCommand sends EVALSHA and falls back to EVAL once per script, so the Lua is not resent per call.
    this.r.defineCommand('mmIncr', { numberOfKeys: 1, lua: INCR });
    this.r.defineCommand('mmSadd', { numberOfKeys: 1, lua: SADD });
  }

  /** Connects and checks the server answers; throws with the (redacted) URL and the real reason when it does not. */
  static async connect(url: string, opts: RedisStoreOptions = {}): Promise<RedisStore> {
    const commandTimeoutMs = opts.commandTimeoutMs ?? 2000;
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    const r = new Redis(url, {
      lazyConnect: true,
      // No queue while disconnected: a command then fails at once, so an outage costs an SMTP session nothing
      // per recipient; the health below turns that failure into the reason the connection was lost.
      enableOfflineQueue: false,
      // A command sent before a connection closed is failed (below), not sent again after the reconnect: the caller
      // already handles the failure, and a resent INCR would count twice.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 2,
      connectTimeout: connectTimeoutMs,
      commandTimeout: commandTimeoutMs,
      // Capped at 1 s: while it is down, commands fail at once, so a slow reconnect only delays noticing it is back.
      retryStrategy: (times) => Math.min(times * 200, 1000),
    });
    const shown = redactUrl(url);
    const health = new RedisHealth({
      url: shown, log: opts.log, commandTimeoutMs, probeIntervalMs: opts.probeIntervalMs,
      probe: () => (r.status === 'ready' ? r.ping() : undefined),
    });
    r.on('error', (err: Error) => health.clientError(err));
    r.on('ready', () => health.ready());
    r.on('close', () => health.connectionClosed());
    let deadline: NodeJS.Timeout | undefined;
    try {
      // ioredis bounds the TCP connect only; a server that accepts and then never answers would hold this forever.
      const timedOut = new Promise<never>((_resolve, reject) => {
        deadline = setTimeout(() => reject(new Error(`timed out: no answer within ${connectTimeoutMs} ms of connecting (the server hangs or the network drops replies)`)), connectTimeoutMs);
      });
      const opened = (async () => { await r.connect(); await r.ping(); })();
      opened.catch(() => {}); // when the deadline wins, its later failure is already told
      await Promise.race([opened, timedOut]);
      health.started();
    } catch (err) {
      const { message, auth } = health.startFailure(err as Error);
      if (!opts.startUnreachable) {
        health.close();
        r.disconnect();
        throw new StoreUnavailableError(message);
      }
      // Either way an error line: a refused login says so in its own words, as the configuration error it is.
      opts.log?.error(`${message}; starting without it and retrying in the background`, { url: shown, auth_failed: auth });
      health.startedDown();
    } finally {
      clearTimeout(deadline);
    }
    return new RedisStore(r, opts.prefix ?? '', health);
  }

  /** Runs one command: at once refused while the store is down, and failing with the real reason when the connection does. */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.health.down) {
      // Through the event loop, not a microtask: a caller that retries in a loop must not starve the reconnect.
      await new Promise((resolve) => setImmediate(resolve));
      this.health.guard();
    }
    try {
      return await this.health.whileConnected(command());
    } catch (err) {
      throw this.health.commandFailed(err as Error);
    }
  }

  private k(key: string) { return this.prefix + key; }

  async script(name: string, lua: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    const commands = this.r as unknown as Record<string, (a: Array<string | number>) => Promise<unknown>>;
    if (typeof commands[name] !== 'function') this.r.defineCommand(name, { lua });
    // One array, not spread arguments: a caller may pass tens of thousands of keys.
    return this.run(() => commands[name]([keys.length, ...keys.map((key) => this.k(key)), ...args]));
  }

  private call(name: string, key: string, ...args: (string | number)[]): Promise<string> {
    return (this.r as unknown as Record<string, (...a: unknown[]) => Promise<string>>)[name](this.k(key), ...args);
  }

  async get(key: string) { return this.run(() => this.r.get(this.k(key))); }
  async set(key: string, value: string, ttlMs?: number) {
    await this.run(() => (ttlMs && ttlMs > 0 ? this.r.set(this.k(key), value, 'PX', Math.ceil(ttlMs)) : this.r.set(this.k(key), value)));
  }
  async add(key: string, value: string, ttlMs?: number) {
    const res = await this.run(() => (ttlMs && ttlMs > 0
      ? this.r.set(this.k(key), value, 'PX', Math.ceil(ttlMs), 'NX')
      : this.r.set(this.k(key), value, 'NX')));
    return res === 'OK';
  }
  async del(key: string) { await this.run(() => this.r.del(this.k(key))); }
  async incr(key: string, by = 1, ttlMs?: number) {
    return Number(await this.run(() => this.call('mmIncr', key, by, Math.ceil(ttlMs ?? 0), Number.isInteger(by) ? '1' : '0')));
  }
  async expire(key: string, ttlMs: number) { return (await this.run(() => this.r.pexpire(this.k(key), Math.max(1, Math.ceil(ttlMs))))) === 1; }
  async sadd(key: string, member: string, ttlMs?: number) { await this.run(() => this.call('mmSadd', key, member, Math.ceil(ttlMs ?? 0))); }
  async srem(key: string, member: string) { await this.run(() => this.r.srem(this.k(key), member)); }
  async smembers(key: string) { return (await this.run(() => this.r.smembers(this.k(key)))).sort(); }
  async sismember(key: string, member: string) { return (await this.run(() => this.r.sismember(this.k(key), member))) === 1; }
  async ttl(key: string) { return this.run(() => this.r.pttl(this.k(key))); }
  async *scan(prefix: string): AsyncIterable<[string, string]> {
    const full = this.k(prefix);
    let cursor = '0';
    do {
      const [next, keys] = await this.run(() => this.r.scan(cursor, 'MATCH', globPrefix(full), 'COUNT', SCAN_COUNT));
      cursor = next;
      if (keys.length === 0) continue;
      for (const [key, value] of await this.run(() => this.values(keys))) yield [key.slice(this.prefix.length), value];
    } while (cursor !== '0');
  }

  /**
   * The keys' values: strings by one MGET, which answers nil for a key of another type, then sets (members sorted,
   * joined by commas) for those nils that are sets. A TYPE and a GET per key made a read of 200,000 counters take
   * 4.1 s, against 0.6 s. A key that expired between SCAN and the read is gone, and left out.
   */
  private async values(keys: string[]): Promise<Array<[string, string]>> {
    const strings = await this.r.mget(keys);
    const others = keys.filter((_k, i) => strings[i] === null);
    const members = new Map<string, string>();
    if (others.length) {
      const types = answers(await others.reduce((p, k) => p.type(k), this.r.pipeline()).exec());
      const sets = others.filter((_k, i) => types[i]?.[1] === 'set');
      const read = answers(await sets.reduce((p, k) => p.smembers(k), this.r.pipeline()).exec());
      sets.forEach((k, i) => {
        const [err, v] = read[i] ?? [];
        if (!err && Array.isArray(v) && v.length) members.set(k, (v as string[]).sort().join(','));
      });
    }
    const out: Array<[string, string]> = [];
    keys.forEach((k, i) => {
      const v = strings[i] ?? members.get(k);
      if (v !== null && v !== undefined) out.push([k, v]);
    });
    return out;
  }
  /**
   * During a known outage, its reason at once (the health's own PING every 250 ms finds the end of it); otherwise one
   * PING, so that a server that hangs with the connection open is found without waiting for a command to find it.
   */
  async unavailableBecause(timeoutMs: number): Promise<string | undefined> {
    if (this.health.down) return this.health.unavailable().message;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the Redis state store gave no answer to PING within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.run(() => this.r.ping()), late]);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }
  async purgeExpired() { return 0; }
  async close() {
    this.health.close();
    try { await this.r.quit(); } catch { this.r.disconnect(); }
  }
}

// The shared resolver: one instance per gateway, handed to every plugin through `services.dns`.
//
// It speaks the DNS wire protocol itself (over UDP, TCP on truncation) instead of wrapping node:dns, because
// node:dns hides TTLs and the SOA of negative answers, which the cache needs; see core/dns/README.md.
import { performance } from 'node:perf_hooks';
import type { DnsConfig } from './config.ts';
import { DnsError, type DnsErrorCode, type DnsResolver, type DnsStats, type MxRecord } from './types.ts';
import type { Logger } from '../log/types.ts';
import { serverList, type ServerAddress } from './servers.ts';
import { queryServer, AttemptTimeout } from './transport.ts';
import { reverseName, validName, type RecordType, type RecordValue, type WireAnswer } from './wire.ts';
import { AnswerCache } from './cache.ts';
import { LookupStats } from './stats.ts';
import { asciiDomain } from '../text/ascii.ts';

export { reverseName, expandIpv6 } from './wire.ts';
export { LookupStats } from './stats.ts';

/** The core resolver: the plugin interface plus cache control. */
export interface CoreResolver extends DnsResolver {
  stats(): DnsStats;
  clearCache(): void;
  resolveNs(name: string): Promise<string[]>;
  resolvePtr(name: string): Promise<string[]>;
  resolveCname(name: string): Promise<string[]>;
}

export interface ResolverOptions {
  /** Clock for cache expiry (tests); defaults to Date.now. */
  now?: () => number;
  /**
   * Counters to go on with: a resolver that a reload swapped in for new `dns:` settings counts on from the old one's,
   * so `moat metrics` loses nothing to a reload.
   */
  stats?: LookupStats;
}

// A FORMERR from a server says it could not read our query (its fault or ours, never the name's): it is a server
// failure like any other rcode not listed here (OTHER, temporary), while the FORMERR code means a name we cannot send.
const RCODE_ERRORS: Record<string, DnsErrorCode> = { NXDOMAIN: 'NXDOMAIN', SERVFAIL: 'SERVFAIL', REFUSED: 'REFUSED' };


/** Creates the resolver from `dns:` config. */
export function createResolver(cfg: DnsConfig, log?: Logger, opts: ResolverOptions = {}): CoreResolver {
  const servers = serverList(cfg.servers);
  const now = opts.now ?? Date.now;
  const maxTtlMs = cfg.max_ttl ?? 86_400_000;
  const negativeTtlMs = cfg.negative_ttl ?? 60_000;
  const cache = new AnswerCache(cfg.cache_size ?? 10_000, now);
  const stats = opts.stats ?? new LookupStats();
  const inflight = new Map<string, Promise<RecordValue[]>>();
  let rotate = 0;

  /** Asks the servers in turn, `tries` rounds, until one gives a definite answer. */
  const ask = async (name: string, type: RecordType): Promise<{ answer?: WireAnswer; error?: DnsErrorCode; server?: ServerAddress; attempts: number }> => {
    // Start each lookup at the next server so that load spreads over all of them.
    const start = rotate++ % servers.length;
    let last: DnsErrorCode = 'TIMEOUT';
    let attempts = 0;
    for (let round = 0; round < cfg.tries; round++) {
      for (let i = 0; i < servers.length; i++) {
        const server = servers[(start + i) % servers.length];
        attempts++;
        try {
          const a = await queryServer(server, name, type, cfg.timeout);
          // A referral is no answer at all (the server does not recurse for us), not a NODATA to cache and act on.
          const err = a.referral ? 'OTHER' : RCODE_ERRORS[a.rcode] ?? (a.rcode === 'NOERROR' ? undefined : 'OTHER');
          // A server that fails or refuses may be alone in that: ask the next one.
          if (err === 'SERVFAIL' || err === 'REFUSED' || err === 'OTHER') { last = err; continue; }
          if (err) return { error: err, answer: a, server, attempts };
          return { answer: a, server, attempts };
        } catch (e) {
          last = e instanceof AttemptTimeout ? (last === 'TIMEOUT' ? 'TIMEOUT' : last) : 'OTHER';
          if (!(e instanceof AttemptTimeout)) log?.debug('dns attempt failed', { name, type, server: `${server.host}:${server.port}`, error: (e as Error).message });
        }
      }
    }
    return { error: last, attempts };
  };

  const network = async (key: string, name: string, type: RecordType): Promise<RecordValue[]> => {
    const t0 = performance.now();
    const r = await ask(name, type);
    const ms = performance.now() - t0;
    let error = r.error;
    if (!error && r.answer && r.answer.records.length === 0) error = 'NODATA';
    stats.recordQuery(ms, error, name, type);
    log?.debug('dns lookup', {
      name, type, ms: Math.round(ms * 10) / 10, result: error ?? 'NOERROR', records: r.answer?.records.length ?? 0,
      server: r.server ? `${r.server.host}:${r.server.port}` : undefined, attempts: r.attempts,
    });
    if (error === 'NXDOMAIN' || error === 'NODATA') {
      const ttl = r.answer?.negativeTtl !== undefined ? r.answer.negativeTtl * 1000 : negativeTtlMs;
      cache.set(key, Math.min(ttl, maxTtlMs), { error });
      throw new DnsError(error, name, type);
    }
    if (error) throw new DnsError(error, name, type);
    const records = r.answer!.records;
    cache.set(key, Math.min(r.answer!.ttl * 1000, maxTtlMs), { records });
    return records;
  };

  const lookup = (rawName: string, type: RecordType): Promise<RecordValue[]> => {
    stats.lookups++;
    const name = asciiDomain(rawName.trim().toLowerCase().replace(/\.$/, ''));
    if (!validName(name)) return Promise.reject(new DnsError('FORMERR', rawName, type, `${type} ${rawName}: not a valid domain name`));
    const key = `${type} ${name}`;
    const hit = cache.get(key);
    if (hit) {
      stats.cacheHits++;
      if ('error' in hit) return Promise.reject(new DnsError(hit.error, name, type));
      return Promise.resolve(hit.records.slice());
    }
    const running = inflight.get(key);
    if (running) { stats.joined++; return running.then((r) => r.slice()); }
    const p = network(key, name, type).finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p.then((r) => r.slice());
  };

  const strings = (name: string, type: RecordType) => lookup(name, type) as Promise<string[]>;
  return {
    resolve4: (n) => strings(n, 'A'),
    resolve6: (n) => strings(n, 'AAAA'),
    resolveMx: (n) => lookup(n, 'MX') as Promise<MxRecord[]>,
    resolveTxt: (n) => strings(n, 'TXT'),
    resolvePtr: (n) => strings(n, 'PTR'),
    resolveNs: (n) => strings(n, 'NS'),
    resolveCname: (n) => strings(n, 'CNAME'),
    reverse(ip) {
      const rev = reverseName(ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, ''));
      if (!rev) return Promise.reject(new DnsError('FORMERR', ip, 'PTR', `PTR ${ip}: not an IP address`));
      return strings(rev, 'PTR');
    },
    stats: () => stats.snapshot(cache.size),
    clearCache: () => cache.clear(),
  };
}

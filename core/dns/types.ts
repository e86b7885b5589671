// The resolver interface every plugin shares (core/dns implements it).

export type DnsErrorCode = 'NXDOMAIN' | 'NODATA' | 'TIMEOUT' | 'SERVFAIL' | 'REFUSED' | 'FORMERR' | 'OTHER';

/** What a query that was answered got: records, none of the type (NODATA), or no such name (NXDOMAIN). */
export type DnsAnswerKind = 'NOERROR' | 'NODATA' | 'NXDOMAIN';

/** A failed lookup. `temporary` is true for timeouts and server failures: never a pass, never a permanent reject. */
export class DnsError extends Error {
  readonly code: DnsErrorCode;
  readonly hostname: string;
  readonly rrtype: string;
  constructor(code: DnsErrorCode, hostname: string, rrtype: string, message?: string) {
    super(message ?? `${rrtype} ${hostname}: ${code}`);
    this.name = 'DnsError';
    this.code = code;
    this.hostname = hostname;
    this.rrtype = rrtype;
  }
  get temporary(): boolean { return this.code === 'TIMEOUT' || this.code === 'SERVFAIL' || this.code === 'REFUSED' || this.code === 'OTHER'; }
  /** The name exists with no record of that type, or does not exist. */
  get notFound(): boolean { return this.code === 'NXDOMAIN' || this.code === 'NODATA'; }
}

export interface MxRecord { exchange: string; priority: number }

export interface DnsResolver {
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveMx(name: string): Promise<MxRecord[]>;
  /** TXT records, each joined from its strings. */
  resolveTxt(name: string): Promise<string[]>;
  /** PTR names of an IP address. */
  reverse(ip: string): Promise<string[]>;
  resolvePtr?(name: string): Promise<string[]>;
  resolveNs?(name: string): Promise<string[]>;
  /** The CNAME target(s) of a name. */
  resolveCname?(name: string): Promise<string[]>;
  /** Counters and lookup times since start (the core resolver implements it). */
  stats?(): DnsStats;
}

/** The resolver's counters as `moat metrics` shows them under `dns` (snake_case, times in seconds, as Prometheus names them). */
export interface DnsStats {
  /** Calls made by plugins. */
  lookups: number;
  /** Calls answered from the cache (positive or negative). */
  cache_hits: number;
  /** Calls that joined an identical lookup already in flight. */
  joined: number;
  /** Lookups that went to the network. */
  queries: number;
  /** Network lookups answered, by kind (NXDOMAIN, a blocklist's usual "not listed", is one), each there from the start. */
  answers: Record<DnsAnswerKind, number>;
  /** Network lookups that got no answer (TIMEOUT, SERVFAIL, REFUSED, OTHER), each code there from the start. */
  errors: Record<'TIMEOUT' | 'SERVFAIL' | 'REFUSED' | 'OTHER', number>;
  /**
   * Times of network lookups in seconds: `p50`, `p99` and `max` over those of the last 10 minutes, at most 2048 (absent
   * while there were none), `sum` and `count` since start, a Prometheus summary.
   */
  query_duration_seconds: { p50?: number; p99?: number; max?: number; sum: number; count: number };
  cache_size: number;
}

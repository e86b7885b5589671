// Connection counting across every listener of a gateway: the total, per client, and temporary blocks after errors.
// A client is its address or its network block (limits.ipv4_prefix / ipv6_prefix; see core/net/client-counting.ts).
// The rates per client (limits.connection_rate and its siblings) are kept here too, counted the same way, and whether
// the total has put the gateway in stress (stress-mode.ts).
import { ExpiringEntries } from '../net/expiring-entries.ts';
import { ClientCounting } from '../net/client-counting.ts';
import { isNetworkBlock } from '../net/client-prefix.ts';
import { ClientRates, exempt, type RateLimitsSource, type RateRefusal } from './client-rates.ts';
import { ConnectionRefusalLog, type LimitRefusal } from './connection-refusal-log.ts';
import { StressMode } from './stress-mode.ts';

/** What a new connection is counted against; `stressThreshold` is server.stress_threshold, judged on the new total. */
export interface ConnectionCaps { total: number; perIp: number; stressThreshold?: number }

/** The two ways smtp-server's connection ends: it ends it itself, or its socket closes (a method of its own). */
interface EndingConnection { close(): void; _onClose(): void }

/** The connections whose end is watched already: the greeting that starts it comes again after XCLIENT. */
const watched = new WeakSet<EndingConnection>();

export class ConnectionLimits {
  private total = 0;
  /** Open connections per client key. */
  private readonly perClient = new Map<string, number>();
  /**
   * The key each address with open connections was counted under, so that its close is taken off the same count
   * even when a reload changed the prefix lengths meanwhile (a count that never comes down would refuse for ever).
   */
  private readonly countedAs = new Map<string, { key: string; open: number }>();
  private readonly blocked = new ExpiringEntries<{ until: number }>();
  private readonly now: () => number;
  readonly counting: ClientCounting;
  /** Connections, messages and recipients per client over limits.rate_window. */
  readonly rates: ClientRates;
  /** The log lines of refusals at these limits, bounded under a flood. */
  readonly refusalLog: ConnectionRefusalLog;
  /** Whether the connections open are near limits.max_connections, and what that changes. */
  readonly stress: StressMode;

  constructor(now: () => number = Date.now, counting: ClientCounting = new ClientCounting(() => undefined)) {
    this.now = now;
    this.counting = counting;
    this.rates = new ClientRates(now, counting);
    this.refusalLog = new ConnectionRefusalLog(now);
    this.stress = new StressMode(now);
  }

  /** Counts a new connection, or says why it is refused (nothing is counted then). */
  open(ip: string, max: ConnectionCaps): string | undefined { return this.tryOpen(ip, max)?.text; }

  /** As open(), with the limit that refused it and the counts then, for its log line. */
  tryOpen(ip: string, max: ConnectionCaps): LimitRefusal | undefined {
    const key = this.counting.keyOf(ip);
    const counts = (k: string) => ({ open: this.perClient.get(k) ?? 0, total: this.total });
    if (this.blocked.get(key, this.now())) return { limit: 'limits.error_block', key, text: blockedText(key), ...counts(key) };
    if (this.total >= max.total) return { limit: 'limits.max_connections', key, text: 'Too many connections, try again later', max: max.total, ...counts(key) };
    const held = this.countedAs.get(ip);
    const countKey = held?.key ?? key;
    const n = this.perClient.get(countKey) ?? 0;
    if (n >= max.perIp) return { limit: 'limits.max_connections_per_ip', key: countKey, text: `Too many connections from your ${whose(countKey)}`, max: max.perIp, ...counts(countKey) };
    this.total++;
    this.perClient.set(countKey, n + 1);
    if (held) held.open++; else this.countedAs.set(ip, { key: countKey, open: 1 });
    this.stress.observe(this.total, { threshold: max.stressThreshold ?? 0, max: max.total });
    return undefined;
  }

  /** A refusal at limits.connection_rate as the refusal log takes it, with the counts now. */
  rateRefusal(ip: string, r: RateRefusal): LimitRefusal {
    const key = this.counting.keyOf(ip);
    return { limit: 'limits.connection_rate', key, text: r.text, max: r.fields.max, windowMs: r.fields.window_ms, open: this.perClient.get(key) ?? 0, total: this.total };
  }

  /**
   * Why `ip` is refused for now after running into limits.max_errors, or undefined. Asked again when XCLIENT names
   * the client, since the connection itself was counted under the proxy's address.
   */
  blockedRefusal(ip: string): LimitRefusal | undefined {
    const key = this.counting.keyOf(ip);
    if (!this.blocked.get(key, this.now())) return undefined;
    return { limit: 'limits.error_block', key, text: blockedText(key), open: this.perClient.get(key) ?? 0, total: this.total };
  }

  close(ip: string): void {
    const held = this.countedAs.get(ip);
    if (!held) return;
    this.total = Math.max(0, this.total - 1);
    if (--held.open <= 0) this.countedAs.delete(ip);
    const n = (this.perClient.get(held.key) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(held.key); else this.perClient.set(held.key, n);
    this.stress.observe(this.total);
  }

  /**
   * Takes a session's connection off the count the moment it is gone from the client's side, and only once: when
   * smtp-server ends it (its close(), after a QUIT, a 421, a timeout, a stop: the client reads our FIN next) or its
   * socket closes first (a reset, a failed STARTTLS). smtp-server reports the close to onClose a loop turn or more
   * after the client has seen it, and a client that reconnects at once, as Postfix does with its concurrency limit
   * at ours, was refused for a connection it no longer had. `take` gives the address the connection is counted under
   * then (XCLIENT may have moved it) and leaves the session counted under none, so its onClose takes nothing off again.
   */
  closeWhenEnded(session: { close(): void }, take: () => string): void {
    const conn = session as EndingConnection;
    if (watched.has(conn)) return;
    watched.add(conn);
    let done = false;
    const release = () => { if (done) return; done = true; this.close(take()); };
    const close = conn.close;
    conn.close = function (this: EndingConnection) { close.call(this); release(); };
    const onClosed = conn._onClose;
    conn._onClose = function (this: EndingConnection) { release(); return onClosed.call(this); };
  }

  /** Blocks the client `ip` belongs to (its network block, under the prefix lengths) for `ms`. */
  block(ip: string, ms: number): void {
    const now = this.now();
    this.blocked.set(this.counting.keyOf(ip), { until: now + ms }, now);
  }

  /** The log field naming the network `ip` is counted as, when that is more than the address. */
  networkField(ip: string): { network?: string } { return this.counting.logField(ip); }

  /** Connections open now. */
  get count(): number { return this.total; }

  /** Clients held in memory: with connections open, and blocked (expired blocks not yet swept out). */
  get tracked(): { ips: number; blocked: number } { return { ips: this.perClient.size, blocked: this.blocked.size }; }
}

/** `network` when the client is counted by its network block (a /64), so a client sent away for a neighbour's doing is not told it was its own address. */
function whose(key: string): 'address' | 'network' { return isNetworkBlock(key) ? 'network' : 'address'; }

function blockedText(key: string): string { return `Too many errors from your ${whose(key)}, try again later`; }

/**
 * The caps a new connection from `ip` is counted against. A trusted proxy has none of its own per client: its
 * sessions stand for many clients, each counted under its own address once XCLIENT names it (see the session handler).
 * Nor do relay.networks and access.allow_ips, as with connection_rate and Postfix's $mynetworks: an internal relay or
 * a partner's MTA that opens many connections at once is the admin's own traffic, not a flood. limits.max_connections
 * still counts them all, since it guards the gateway itself.
 */
export function connectionCaps(rt: { config: { server: { stress_threshold: number }; limits: { max_connections: number; max_connections_per_ip: number } }; policy: RateLimitsSource['policy'] }, ip: string): ConnectionCaps {
  const lim = rt.config.limits;
  return { total: lim.max_connections, perIp: exempt(rt.policy, ip) ? Infinity : lim.max_connections_per_ip, stressThreshold: rt.config.server.stress_threshold };
}

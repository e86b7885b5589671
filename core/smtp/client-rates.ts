// limits.connection_rate, message_rate and recipient_rate: how many connections, MAIL FROMs and RCPT TOs one client
// may make per limits.rate_window, as Postfix's anvil limits (smtpd_client_connection_rate_limit and its siblings).
// A client is counted as max_connections_per_ip counts it (core/net/client-counting.ts); our own networks are exempt.
// Every attempt counts, refused ones too, as anvil counts them: a client that keeps knocking stays refused until it
// slows down below the limit.
import { RateWindows, type RateKind } from '../net/rate-windows.ts';
import { ClientCounting } from '../net/client-counting.ts';
import { isNetworkBlock } from '../net/client-prefix.ts';

/** The part of the gateway's runtime the limits read at each call (the Runtime itself fits), so a reload applies at once. */
export interface RateLimitsSource {
  config: { limits: { connection_rate: number; message_rate: number; recipient_rate: number; rate_window: number } };
  policy: { relay: Member; allow: Member; trustedProxies: Member };
}
interface Member { has(ip: string): boolean }

const KEY = { connection: 'connection_rate', message: 'message_rate', recipient: 'recipient_rate' } as const satisfies Record<RateKind, string>;

const WHAT: Record<RateKind, string> = { connection: 'Connection', message: 'Message', recipient: 'Recipient' };

/** A client over one of its rates: the words for its reply, and the fields of the log line that records it. */
export interface RateRefusal {
  text: string;
  fields: { limit: string; max: number; window_ms: number; prefix?: string };
}

export class ClientRates {
  private readonly windows: RateWindows;
  private readonly counting: ClientCounting;

  constructor(now: () => number = Date.now, counting: ClientCounting = new ClientCounting(() => undefined)) {
    this.windows = new RateWindows(now);
    this.counting = counting;
  }

  /** Counts one `kind` event of the client `ip` belongs to; says why it is refused when that takes it over its limit. */
  take(src: RateLimitsSource, ip: string, kind: RateKind): RateRefusal | undefined {
    const lim = src.config.limits;
    const max = lim[KEY[kind]];
    if (max <= 0 || exempt(src, ip)) return undefined;
    const key = this.counting.keyOf(ip);
    return this.windows.count(key, kind, lim.rate_window) > max ? refusal(kind, key, max, lim.rate_window) : undefined;
  }

  /**
   * Why the client `ip` belongs to would be refused its next connection, without counting one: an implicit-TLS
   * listener asks before the handshake, which such a client is not worth.
   */
  connectionsOver(src: RateLimitsSource, ip: string): RateRefusal | undefined {
    const lim = src.config.limits;
    const max = lim.connection_rate;
    if (max <= 0 || exempt(src, ip)) return undefined;
    const key = this.counting.keyOf(ip);
    return this.windows.peek(key, 'connection', lim.rate_window) + 1 > max ? refusal('connection', key, max, lim.rate_window) : undefined;
  }

  /** Clients held in memory (quiet ones not swept out yet included). */
  get size(): number { return this.windows.size; }
}

/** relay.networks, access.allow_ips and a trusted proxy's own address (its sessions count under the clients they name). */
function exempt(src: RateLimitsSource, ip: string): boolean {
  const p = src.policy;
  return p.relay.has(ip) || p.allow.has(ip) || p.trustedProxies.has(ip);
}

function refusal(kind: RateKind, key: string, max: number, windowMs: number): RateRefusal {
  const network = isNetworkBlock(key);
  return {
    text: `${WHAT[kind]} rate limit exceeded for your ${network ? 'network' : 'address'}, try again later`,
    fields: { limit: `limits.${KEY[kind]}`, max, window_ms: windowMs, ...(network ? { prefix: key } : {}) },
  };
}

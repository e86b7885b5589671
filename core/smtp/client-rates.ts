// limits.connection_rate, message_rate and recipient_rate: how many connections, MAIL FROMs and RCPT TOs one client
// may make per limits.rate_window, as Postfix's anvil limits (smtpd_client_connection_rate_limit and its siblings).
// A client is counted as max_connections_per_ip counts it (core/net/client-counting.ts); our own networks are exempt.
// Every attempt counts, refused ones too, as anvil counts them: a client that keeps knocking stays refused until it
// slows down below the limit. limits.user_message_rate and user_recipient_rate count a logged-in client by its login
// instead, over all its addresses.
import { RateWindows, type RateKind } from '../net/rate-windows.ts';
import { ClientCounting } from '../net/client-counting.ts';
import { isNetworkBlock } from '../net/client-prefix.ts';
import { ExpiringEntries } from '../net/expiring-entries.ts';
import { loginInReply } from './login-in-reply.ts';

/** The part of the gateway's runtime the limits read at each call (the Runtime itself fits), so a reload applies at once. */
export interface RateLimitsSource {
  config: { limits: { connection_rate: number; message_rate: number; recipient_rate: number; rate_window: number; user_message_rate?: number; user_recipient_rate?: number } };
  policy: { relay: Member; allow: Member; trustedProxies: Member };
}
interface Member { has(ip: string): boolean }

const KEY = { connection: 'connection_rate', message: 'message_rate', recipient: 'recipient_rate' } as const satisfies Record<RateKind, string>;

const WHAT: Record<RateKind, string> = { connection: 'Connection', message: 'Message', recipient: 'Recipient' };

/** The limits counted by login; a login is known only after the connection is taken, so none for connections. */
type UserRateKind = Exclude<RateKind, 'connection'>;
const USER_KEY = { message: 'user_message_rate', recipient: 'user_recipient_rate' } as const satisfies Record<UserRateKind, string>;

/** A client over one of its rates: the words for its reply, and the fields of the log line that records it. */
export interface RateRefusal {
  text: string;
  fields: { limit: string; max: number; window_ms: number; network?: string };
  /** A user's first refusal since it was last under this limit (or quiet for a rate_window): the one to tell of. */
  reached?: boolean;
}

export class ClientRates {
  private readonly windows: RateWindows;
  /** Logins' counts, apart from the addresses': a login is any name, and must never share an address's count. */
  private readonly users: RateWindows;
  /** Users refused by a limit lately (`kind` and login), so that reaching it is told once, not at each refusal. */
  private readonly usersOver = new ExpiringEntries<{ until: number }>();
  private readonly counting: ClientCounting;
  private readonly now: () => number;

  constructor(now: () => number = Date.now, counting: ClientCounting = new ClientCounting(() => undefined)) {
    this.windows = new RateWindows(now);
    this.users = new RateWindows(now);
    this.counting = counting;
    this.now = now;
  }

  /**
   * Counts one `kind` event of the client `ip` belongs to, or of `user` when the client logged in and its user limit
   * for `kind` is set; says why it is refused when that takes it over its limit.
   */
  take(src: RateLimitsSource, ip: string, kind: RateKind, user?: string): RateRefusal | undefined {
    const lim = src.config.limits;
    if (user !== undefined && kind !== 'connection' && (lim[USER_KEY[kind]] ?? 0) > 0) return this.takeUser(src, user, kind);
    const max = lim[KEY[kind]];
    if (max <= 0 || exempt(src.policy, ip)) return undefined;
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
    if (max <= 0 || exempt(src.policy, ip)) return undefined;
    const key = this.counting.keyOf(ip);
    return this.windows.peek(key, 'connection', lim.rate_window) + 1 > max ? refusal('connection', key, max, lim.rate_window) : undefined;
  }

  /** Clients held in memory (quiet ones not swept out yet included). */
  get size(): number { return this.windows.size; }

  private takeUser(src: RateLimitsSource, user: string, kind: UserRateKind): RateRefusal | undefined {
    const lim = src.config.limits;
    const max = lim[USER_KEY[kind]] ?? 0;
    const key = `${kind} ${user}`;
    const now = this.now();
    if (this.users.count(user, kind, lim.rate_window) <= max) {
      this.usersOver.delete(key);
      return undefined;
    }
    const reached = this.usersOver.get(key, now) === undefined;
    this.usersOver.set(key, { until: now + lim.rate_window }, now);
    return {
      text: `${WHAT[kind]} rate limit exceeded for user ${loginInReply(user)}`,
      fields: { limit: `limits.${USER_KEY[kind]}`, max, window_ms: lim.rate_window },
      reached,
    };
  }
}

/** relay.networks, access.allow_ips and a trusted proxy's own address (its sessions count under the clients they name). */
export function exempt(p: RateLimitsSource['policy'], ip: string): boolean {
  return p.relay.has(ip) || p.allow.has(ip) || p.trustedProxies.has(ip);
}

function refusal(kind: RateKind, key: string, max: number, windowMs: number): RateRefusal {
  const network = isNetworkBlock(key);
  return {
    text: `${WHAT[kind]} rate limit exceeded for your ${network ? 'network' : 'address'}, try again later`,
    fields: { limit: `limits.${KEY[kind]}`, max, window_ms: windowMs, ...(network ? { network: key } : {}) },
  };
}

// Failed AUTH attempts per client address, so that guessing stops before it costs a password check: each check is
// scrypt, run one at a time (users-file.ts), and each guess takes a turn that real users' logins then wait for.
// The rule is fail2ban's for Postfix and Dovecot: after `max` failures, each within `blockMs` of the one before, the
// address gets no AUTH for `blockMs` after the failure that reached the limit (a fixed ban: tries while banned do not
// lengthen it, or an office behind one address whose mail client keeps retrying would stay locked out). An "address"
// is the client's network block under limits.ipv4_prefix / ipv6_prefix (core/net/client-counting.ts): an IPv6
// guesser would otherwise get a fresh count from each address of its /64.
// It also tells where a client's password check waits (standing): a client that logged in lately and has failed
// since goes first, one never seen next, one with failures last, so that guessers cannot delay real users' logins.
import { ExpiringEntries } from '../net/expiring-entries.ts';
import { ClientCounting } from '../net/client-counting.ts';

/** A client's AUTH record: `known` logged in lately with no failure since, `failing` failed lately, `new` neither. */
export type AuthStanding = 'known' | 'new' | 'failing';

/** Which client a password check is for, and its standing, to place the check among those waiting (users-file.ts). */
export interface CheckClient { key: string; standing: AuthStanding }

/**
 * How long a login keeps its client `known`. A day: a mail client that sends once in a morning and again after
 * lunch is still recognised, and only someone with a right password ever gets here, so the map holds real users.
 */
export const KNOWN_FOR_MS = 24 * 3600_000;

export class AuthFailures {
  private readonly byIp = new ExpiringEntries<{ count: number; until: number }>();
  private readonly loggedIn = new ExpiringEntries<{ until: number }>();
  private readonly now: () => number;
  private readonly counting: ClientCounting;

  constructor(now: () => number = Date.now, counting: ClientCounting = new ClientCounting(() => undefined)) {
    this.now = now;
    this.counting = counting;
  }

  /** Whether `ip` is refused AUTH now. */
  refused(ip: string, max: number): boolean {
    if (max <= 0) return false;
    const e = this.byIp.get(this.counting.keyOf(ip), this.now());
    return !!e && e.count >= max;
  }

  /** Counts a failed AUTH of `ip`. */
  failed(ip: string, blockMs: number): void {
    const now = this.now();
    const key = this.counting.keyOf(ip);
    const e = this.byIp.get(key, now) ?? { count: 0, until: 0 };
    e.count++;
    e.until = now + blockMs;
    this.byIp.set(key, e, now);
  }

  /** A successful login clears the address's failures (a user who mistyped twice starts again). */
  succeeded(ip: string): void {
    const now = this.now();
    const key = this.counting.keyOf(ip);
    this.byIp.delete(key);
    this.loggedIn.set(key, { until: now + KNOWN_FOR_MS }, now);
  }

  /**
   * The client `ip`'s standing now. Any failure within limits.auth_failure_block makes it `failing`, whatever the
   * ban's count: guessers spread over many addresses each stay under the ban and must still not go first.
   */
  checkClient(ip: string): CheckClient {
    const now = this.now();
    const key = this.counting.keyOf(ip);
    if (this.byIp.get(key, now)) return { key, standing: 'failing' };
    return { key, standing: this.loggedIn.get(key, now) ? 'known' : 'new' };
  }

  /** Addresses held in memory (expired ones not yet swept out). */
  get size(): number { return this.byIp.size; }
}

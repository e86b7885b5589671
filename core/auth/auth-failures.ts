// Failed AUTH attempts per client address, so that guessing stops before it costs a password check: each check is
// scrypt, run one at a time (users-file.ts), and each guess takes a turn that real users' logins then wait for.
// The rule is fail2ban's for Postfix and Dovecot: after `max` failures, each within `blockMs` of the one before, the
// address gets no AUTH for `blockMs` after the failure that reached the limit (a fixed ban: tries while banned do not
// lengthen it, or an office behind one address whose mail client keeps retrying would stay locked out). An "address"
// is the client's network block under limits.ipv4_prefix / ipv6_prefix (core/net/client-counting.ts): an IPv6
// guesser would otherwise get a fresh count from each address of its /64.
import { ExpiringEntries } from '../net/expiring-entries.ts';
import { ClientCounting } from '../net/client-counting.ts';

export class AuthFailures {
  private readonly byIp = new ExpiringEntries<{ count: number; until: number }>();
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
  succeeded(ip: string): void { this.byIp.delete(this.counting.keyOf(ip)); }

  /** Addresses held in memory (expired ones not yet swept out). */
  get size(): number { return this.byIp.size; }
}

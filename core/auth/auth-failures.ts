// Failed AUTH attempts per client address, so that guessing stops before it costs a password check: each check is
// scrypt, run one at a time (users-file.ts), and a guessing client would otherwise hold every real user's login up.
// The rule is fail2ban's for Postfix and Dovecot: after `max` failures, each within `blockMs` of the one before, the
// address gets no AUTH for `blockMs` after the failure that reached the limit (a fixed ban: tries while banned do not
// lengthen it, or an office behind one address whose mail client keeps retrying would stay locked out).
import { ExpiringEntries } from '../net/expiring-entries.ts';

export class AuthFailures {
  private readonly byIp = new ExpiringEntries<{ count: number; until: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) { this.now = now; }

  /** Whether `ip` is refused AUTH now. */
  refused(ip: string, max: number): boolean {
    if (max <= 0) return false;
    const e = this.byIp.get(ip, this.now());
    return !!e && e.count >= max;
  }

  /** Counts a failed AUTH of `ip`. */
  failed(ip: string, blockMs: number): void {
    const now = this.now();
    const e = this.byIp.get(ip, now) ?? { count: 0, until: 0 };
    e.count++;
    e.until = now + blockMs;
    this.byIp.set(ip, e, now);
  }

  /** A successful login clears the address's failures (a user who mistyped twice starts again). */
  succeeded(ip: string): void { this.byIp.delete(ip); }

  /** Addresses held in memory (expired ones not yet swept out). */
  get size(): number { return this.byIp.size; }
}

// Failed AUTH attempts per client address, so that guessing stops before it costs a password check: each check is
// scrypt, run one at a time (users-file.ts), and a guessing client would otherwise hold every real user's login up.
// The rule is fail2ban's for Postfix and Dovecot: after `max` failures, each within `blockMs` of the one before, the
// address gets no AUTH for `blockMs` after the failure that reached the limit (a fixed ban: tries while banned do not
// lengthen it, or an office behind one address whose mail client keeps retrying would stay locked out).

/** Addresses kept before the expired ones are swept out; each sweep sets the next mark at twice what is left. */
const MIN_SWEEP_MARK = 1024;

export class AuthFailures {
  private readonly byIp = new Map<string, { count: number; until: number }>();
  private sweepMark = MIN_SWEEP_MARK;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) { this.now = now; }

  /** Whether `ip` is refused AUTH now. */
  refused(ip: string, max: number): boolean {
    if (max <= 0) return false;
    const e = this.live(ip);
    return !!e && e.count >= max;
  }

  /** Counts a failed AUTH of `ip`. */
  failed(ip: string, blockMs: number): void {
    const now = this.now();
    const e = this.live(ip) ?? { count: 0, until: 0 };
    e.count++;
    e.until = now + blockMs;
    this.byIp.delete(ip);
    this.byIp.set(ip, e);
    if (this.byIp.size < this.sweepMark) return;
    for (const [k, v] of this.byIp) if (v.until <= now) this.byIp.delete(k);
    this.sweepMark = Math.max(MIN_SWEEP_MARK, this.byIp.size * 2);
  }

  /** A successful login clears the address's failures (a user who mistyped twice starts again). */
  succeeded(ip: string): void { this.byIp.delete(ip); }

  /** Addresses held in memory (expired ones not yet swept out). */
  get size(): number { return this.byIp.size; }

  private live(ip: string): { count: number; until: number } | undefined {
    const e = this.byIp.get(ip);
    if (e && e.until <= this.now()) { this.byIp.delete(ip); return undefined; }
    return e;
  }
}

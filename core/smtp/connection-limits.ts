// Connection counting across every listener of a gateway: the total, per client IP, and temporary blocks after errors.

/** Blocks kept before the expired ones are swept out; each sweep sets the next mark at twice what is left. */
const MIN_SWEEP_MARK = 1024;

export class ConnectionLimits {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private readonly blocked = new Map<string, number>();
  // An expired block used to go only when its address came back: every address ever blocked stayed for the life of
  // the gateway, which in front of an MX means one entry per spam bot that ran into limits.max_errors.
  private sweepMark = MIN_SWEEP_MARK;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) { this.now = now; }

  /** Counts a new connection, or says why it is refused (nothing is counted then). */
  open(ip: string, max: { total: number; perIp: number }): string | undefined {
    const blocked = this.blockedNow(ip);
    if (blocked) return blocked;
    if (this.total >= max.total) return 'Too many connections, try again later';
    if ((this.perIp.get(ip) ?? 0) >= max.perIp) return 'Too many connections from your address';
    this.total++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    return undefined;
  }

  /**
   * Why `ip` is refused for now after running into limits.max_errors, or undefined. Asked again when XCLIENT names
   * the client, since the connection itself was counted under the proxy's address.
   */
  blockedNow(ip: string): string | undefined {
    const until = this.blocked.get(ip);
    if (until === undefined) return undefined;
    if (until > this.now()) return 'Too many errors from your address, try again later';
    this.blocked.delete(ip);
    return undefined;
  }

  close(ip: string): void {
    this.total = Math.max(0, this.total - 1);
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip); else this.perIp.set(ip, n);
  }

  block(ip: string, ms: number): void {
    const now = this.now();
    // Re-inserted so that the map stays in order of expiry when every block has the same length.
    this.blocked.delete(ip);
    this.blocked.set(ip, now + ms);
    if (this.blocked.size < this.sweepMark) return;
    for (const [k, until] of this.blocked) if (until <= now) this.blocked.delete(k);
    this.sweepMark = Math.max(MIN_SWEEP_MARK, this.blocked.size * 2);
  }

  /** Connections open now. */
  get count(): number { return this.total; }

  /** Addresses held in memory: with connections open, and blocked (expired blocks not yet swept out). */
  get tracked(): { ips: number; blocked: number } { return { ips: this.perIp.size, blocked: this.blocked.size }; }
}

// Connection counting across every listener of a gateway: the total, per client IP, and temporary blocks after errors.

export class ConnectionLimits {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private readonly blocked = new Map<string, number>();

  /** Counts a new connection, or says why it is refused (nothing is counted then). */
  open(ip: string, max: { total: number; perIp: number }): string | undefined {
    const until = this.blocked.get(ip);
    if (until !== undefined) {
      if (until > Date.now()) return 'Too many errors from your address, try again later';
      this.blocked.delete(ip);
    }
    if (this.total >= max.total) return 'Too many connections, try again later';
    if ((this.perIp.get(ip) ?? 0) >= max.perIp) return 'Too many connections from your address';
    this.total++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    return undefined;
  }

  close(ip: string): void {
    this.total = Math.max(0, this.total - 1);
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip); else this.perIp.set(ip, n);
  }

  block(ip: string, ms: number): void { this.blocked.set(ip, Date.now() + ms); }

  /** Connections open now. */
  get count(): number { return this.total; }
}

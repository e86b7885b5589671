// Connection counting across every listener of a gateway: the total, per client IP, and temporary blocks after errors.
import { ExpiringEntries } from '../net/expiring-entries.ts';

export class ConnectionLimits {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private readonly blocked = new ExpiringEntries<{ until: number }>();
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
    return this.blocked.get(ip, this.now()) ? 'Too many errors from your address, try again later' : undefined;
  }

  close(ip: string): void {
    this.total = Math.max(0, this.total - 1);
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip); else this.perIp.set(ip, n);
  }

  block(ip: string, ms: number): void {
    const now = this.now();
    this.blocked.set(ip, { until: now + ms }, now);
  }

  /** Connections open now. */
  get count(): number { return this.total; }

  /** Addresses held in memory: with connections open, and blocked (expired blocks not yet swept out). */
  get tracked(): { ips: number; blocked: number } { return { ips: this.perIp.size, blocked: this.blocked.size }; }
}

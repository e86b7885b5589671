// How many connections the HTTP listener holds open: in all (http.max_connections) and from one client
// (http.max_connections_per_ip). Without a bound, a client that opened sockets and sent nothing held one file
// descriptor each until the process had none left, and the SMTP listeners stopped greeting. A connection past a bound
// is closed at once, before TLS or a request is read; the refusals are counted and logged at most once a window.
import type { Socket } from 'node:net';
import type { Logger } from '../log/types.ts';
import { normalizeIp } from '../net/cidr.ts';
import { clientBlock } from '../net/client-prefix.ts';
import { DEFAULT_PREFIXES } from '../net/client-counting.ts';
import { OTHER_KEY, ThrottledLog } from './throttled-log.ts';

export interface ConnectionLimits {
  /** Connections open at once, from every client together. */
  max: number;
  /** Connections open at once from one client (its address; an IPv6 client's /64). */
  perIp: number;
}

export type ConnectionLimit = 'max_connections' | 'max_connections_per_ip';

export interface ConnectionGateOptions {
  /** Read at each connection, so a reload applies to the next one. */
  limits(): ConnectionLimits;
  /**
   * Peers the per-client bound does not apply to (they still count toward the whole): a trusted proxy carries many
   * clients on its connections, and which ones is known only from each request's X-Forwarded-For, long after the
   * connection was taken; the admin's own clients in allow_from.
   */
  exempt(ip: string): boolean;
  /** Told of each refusal (the metric). */
  refused?(limit: ConnectionLimit): void;
  log: Logger;
  /** The flood warning's window; tests shorten it. */
  logWindowMs?: number;
}

/** Clients named in a flood warning's summary, the busiest first. */
const SUMMARY_CLIENTS = 5;

export class ConnectionGate {
  private readonly opts: ConnectionGateOptions;
  private readonly byClient = new Map<string, number>();
  private total = 0;
  private readonly flood: ThrottledLog;

  constructor(opts: ConnectionGateOptions) {
    this.opts = opts;
    this.flood = new ThrottledLog({
      free: 1,
      windowMs: opts.logWindowMs,
      line: (fields) => opts.log.warn('http connection refused: too many connections', fields),
      summary: (held, byKey) => opts.log.warn('http connections refused: too many connections', this.summaryFields(held, byKey)),
    });
  }

  /** Connections open now, in all. */
  get open(): number { return this.total; }

  /**
   * Takes `socket` into the count and answers true, or answers false when a bound is reached (the caller closes it).
   * A socket taken is counted until it closes.
   */
  admit(socket: Socket): boolean {
    const peer = normalizeIp(socket.remoteAddress ?? '');
    const client = clientBlock(peer, DEFAULT_PREFIXES);
    const { max, perIp } = this.opts.limits();
    const fromClient = this.byClient.get(client) ?? 0;
    const limit: ConnectionLimit | undefined = this.total >= max ? 'max_connections'
      : fromClient >= perIp && !this.opts.exempt(peer) ? 'max_connections_per_ip' : undefined;
    if (limit) {
      this.opts.refused?.(limit);
      this.flood.note(`${limit} ${client}`, { client, limit, open: this.total, open_from_client: fromClient, max, max_per_ip: perIp });
      return false;
    }
    this.total++;
    this.byClient.set(client, fromClient + 1);
    socket.once('close', () => {
      this.total--;
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left > 0) this.byClient.set(client, left);
      else this.byClient.delete(client);
    });
    return true;
  }

  /** Writes the refusals not logged yet (a stop). */
  close(): void { this.flood.close(); }

  private summaryFields(held: number, byKey: ReadonlyMap<string, number>): Record<string, unknown> {
    const byLimit: Record<string, number> = {};
    const byClient = new Map<string, number>();
    for (const [key, n] of byKey) {
      const [limit, client] = key === OTHER_KEY ? [OTHER_KEY, OTHER_KEY] : key.split(' ');
      byLimit[limit] = (byLimit[limit] ?? 0) + n;
      byClient.set(client, (byClient.get(client) ?? 0) + n);
    }
    const busiest = [...byClient].sort((a, b) => b[1] - a[1]).slice(0, SUMMARY_CLIENTS).map(([client, refused]) => ({ client, refused }));
    const { max, perIp } = this.opts.limits();
    return { refused: held, by_limit: byLimit, clients: byClient.size, busiest, open: this.total, max, max_per_ip: perIp };
  }
}

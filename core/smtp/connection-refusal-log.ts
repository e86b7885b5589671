// The log lines of connections refused at limits.max_connections, max_connections_per_ip, error_block and
// connection_rate, on a listener or for a client a trusted proxy's XCLIENT names. Each refusal is counted in
// connections_refused; a line for each would let an idle-connection flood (83,521 refusals in one test) or a client
// knocking faster than its rate fill the disk through the log, so, as Postfix warns once when its process limit is
// reached:
// - a client over its own limit (per client, its rate, or blocked) gets a line at its first refusal, with the limit
//   and the counts, then at most one line a minute saying how many of its connections were refused meanwhile;
// - the total cap gets one warning when it is reached, then at most one a minute while refusals go on. Its refusals
//   get no line per client: a flood from fresh addresses would make that one line per address again.
import type { Logger } from '../log/types.ts';
import { isNetworkBlock } from '../net/client-prefix.ts';
import { DueTimer, RepeatCounter, type RepeatSummary } from './repeat-counter.ts';

/** Why a connection was refused, and the counts when it was (connection-limits.ts). */
export interface LimitRefusal {
  limit: 'limits.max_connections' | 'limits.max_connections_per_ip' | 'limits.error_block' | 'limits.connection_rate';
  /** The client as counted: its address, or its network under the prefix lengths. */
  key: string;
  /** The reply's text. */
  text: string;
  /** The limit's value, for the two caps and the rate. */
  max?: number;
  /** limits.rate_window, for the rate. */
  windowMs?: number;
  /** The client's connections open, and all connections open. */
  open: number;
  total: number;
}

export const REFUSAL_LINE_INTERVAL_MS = 60_000;
const TOTAL_KEY = 'max_connections';

export class ConnectionRefusalLog {
  private readonly clients: RepeatCounter;
  /** Apart from the caps', so that a client's line names the limit each of its refusals was at. */
  private readonly rates: RepeatCounter;
  private readonly total: RepeatCounter;
  /** The logger of the latest refusal, for counts written when their minute ends with no refusal to bring them. */
  private log?: Logger;
  private readonly timer: DueTimer;

  constructor(now: () => number = Date.now, intervalMs = REFUSAL_LINE_INTERVAL_MS) {
    this.clients = new RepeatCounter(now, intervalMs);
    this.rates = new RepeatCounter(now, intervalMs);
    this.total = new RepeatCounter(now, intervalMs);
    this.timer = new DueTimer(now, [this.total, this.clients, this.rates], () => this.flush());
  }

  /** Logs (or counts for a later line) one refusal of `client`; `fields` go on a first line (listener, when before TLS). */
  refused(log: Logger, client: string, r: LimitRefusal, fields: Record<string, unknown>): void {
    this.log = log;
    this.flush();
    if (r.limit === 'limits.max_connections') {
      if (this.total.event(TOTAL_KEY, r.limit)) {
        log.warn('connection limit reached', { client, limit: r.limit, max: r.max, open: r.total, ...fields });
      }
    } else if ((r.limit === 'limits.connection_rate' ? this.rates : this.clients).event(r.key, r.limit)) {
      const network = isNetworkBlock(r.key) ? { network: r.key } : {};
      log.info(firstLine(r.limit), { client, ...network, ...fields, limit: r.limit, ...counts(r) });
    }
    this.timer.arm();
  }

  /** Clients held for their counts (for tests). */
  get tracked(): number { return this.clients.size + this.rates.size; }

  /** Writes the counts whose minute is over: the timer's work, also done at each refusal. */
  flush(): void {
    const log = this.log;
    if (!log) return;
    for (const s of this.total.due()) log.warn('connection limit reached', { limit: s.detail, refused: s.count, ...seconds(s) });
    for (const s of [...this.clients.due(), ...this.rates.due()]) log.info(`${firstLine(s.detail)}, repeated`, { ...counted(s.key), limit: s.detail, refused: s.count, ...seconds(s) });
  }
}

function firstLine(limit: string): string {
  if (limit === 'limits.error_block') return 'client refused: blocked after too many errors';
  return limit === 'limits.connection_rate' ? 'client refused: connection rate limit' : 'client refused: connection limit';
}

/** The figures a client's first line gives: none for a block, the window for a rate, the counts open for a cap. */
function counts(r: LimitRefusal): Record<string, number | undefined> {
  if (r.limit === 'limits.error_block') return {};
  if (r.limit === 'limits.connection_rate') return { max: r.max, window_ms: r.windowMs };
  return { max: r.max, open: r.open, total: r.total };
}

/** A client as counted: `client` for one address, `network` for a block of them (limits.ipv4_prefix, ipv6_prefix). */
function counted(key: string): { client: string } | { network: string } {
  return isNetworkBlock(key) ? { network: key } : { client: key };
}

function seconds(s: RepeatSummary): { over_s: number } { return { over_s: Math.round(s.sinceMs / 1000) }; }

// The log lines of connections refused at limits.max_connections, max_connections_per_ip and error_block. Each
// refusal is counted in connections_refused; a line for each would let an idle-connection flood (83,521 refusals in
// one test) fill the disk through the log, so, as Postfix warns once when its process limit is reached:
// - a client over its own limit (per client, or blocked) gets a line at its first refusal, with the limit and the
//   counts, then at most one line a minute saying how many of its connections were refused meanwhile;
// - the total cap gets one warning when it is reached, then at most one a minute while refusals go on. Its refusals
//   get no line per client: a flood from fresh addresses would make that one line per address again.
import type { Logger } from '../log/types.ts';
import { isNetworkBlock } from '../net/client-prefix.ts';
import { RepeatCounter, type RepeatSummary } from './repeat-counter.ts';

/** Why a connection was refused, and the counts when it was (connection-limits.ts). */
export interface LimitRefusal {
  limit: 'limits.max_connections' | 'limits.max_connections_per_ip' | 'limits.error_block';
  /** The client as counted: its address, or its network under the prefix lengths. */
  key: string;
  /** The reply's text. */
  text: string;
  /** The limit's value, for the two caps. */
  max?: number;
  /** The client's connections open, and all connections open. */
  open: number;
  total: number;
}

export const REFUSAL_LINE_INTERVAL_MS = 60_000;
const TOTAL_KEY = 'max_connections';

export class ConnectionRefusalLog {
  private readonly clients: RepeatCounter;
  private readonly total: RepeatCounter;
  private readonly now: () => number;
  /** The logger of the latest refusal, for counts written when their minute ends with no refusal to bring them. */
  private log?: Logger;
  private timer?: NodeJS.Timeout;

  constructor(now: () => number = Date.now, intervalMs = REFUSAL_LINE_INTERVAL_MS) {
    this.now = now;
    this.clients = new RepeatCounter(now, intervalMs);
    this.total = new RepeatCounter(now, intervalMs);
  }

  /** Logs (or counts for a later line) one refusal of `ip`; `fields` go on a first line (listener, when before TLS). */
  refused(log: Logger, ip: string, r: LimitRefusal, fields: Record<string, unknown>): void {
    this.log = log;
    this.flush();
    if (r.limit === 'limits.max_connections') {
      if (this.total.event(TOTAL_KEY, r.limit)) {
        log.warn('connection limit reached', { limit: r.limit, max: r.max, open: r.total, ip, ...fields });
      }
    } else if (this.clients.event(r.key, r.limit)) {
      const prefix = isNetworkBlock(r.key) ? { prefix: r.key } : {};
      const counts = r.limit === 'limits.error_block' ? {} : { max: r.max, open: r.open, total: r.total };
      log.info(firstLine(r.limit), { ip, ...prefix, ...fields, limit: r.limit, ...counts });
    }
    this.arm();
  }

  /** Clients held for their counts (for tests). */
  get tracked(): number { return this.clients.size; }

  /** Writes the counts whose minute is over: the timer's work, also done at each refusal. */
  flush(): void {
    const log = this.log;
    if (!log) return;
    for (const s of this.total.due()) log.warn('connection limit reached', { limit: s.detail, refused: s.count, ...seconds(s) });
    for (const s of this.clients.due()) log.info(`${firstLine(s.detail)}, repeated`, { client: s.key, limit: s.detail, refused: s.count, ...seconds(s) });
  }

  /** A timer for the earliest count still to write, so a flood that stops still has its last minute told. */
  private arm(): void {
    if (this.timer) return;
    const at = [this.total.nextDue(), this.clients.nextDue()].filter((x): x is number => x !== undefined);
    if (!at.length) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.flush(); this.arm(); }, Math.max(0, Math.min(...at) - this.now()));
    // Nothing to keep a stopping gateway waiting for.
    this.timer.unref();
  }
}

function firstLine(limit: string): string {
  return limit === 'limits.error_block' ? 'client refused: blocked after too many errors' : 'client refused: connection limit';
}

function seconds(s: RepeatSummary): { over_s: number } { return { over_s: Math.round(s.sinceMs / 1000) }; }

// What left, as opposed to what intake planned: a line per departure naming the key a signed message went with, and
// the counters, once a message, of mail planned for signing that left signed or unsigned (README.md here).
import type { QueueEntry } from '../queue/entry.ts';
import type { Logger } from '../log/types.ts';
import type { LabelOf } from '../metrics.ts';

/** Why a message intake planned to sign left unsigned: `dkim_unsigned{reason}`. */
export type UnsignedReason = LabelOf<'dkim_unsigned'>;

/** The key a message was signed with, or why it was not. */
export type SigningOutcome = { domain: string; selector: string } | { unsigned: UnsignedReason };

/** The part of the gateway's Metrics these counts go to. */
export interface DkimCounters {
  inc(name: 'dkim_signed'): void;
  count(name: 'dkim_unsigned', label: UnsignedReason): void;
}

/**
 * Whether a departure is a message's first: counted once a message, as it first leaves, not per attempt nor per
 * destination. A recipient delivered already means an earlier attempt (or a gateway before a restart or reload) did.
 */
export class FirstDepartures {
  /** Entries seen by this config generation: its destinations' transactions of one attempt end before any is settled. */
  private readonly seen = new WeakSet<QueueEntry>();

  first(entry: QueueEntry): boolean {
    if (this.seen.has(entry)) return false;
    this.seen.add(entry);
    return !entry.recipients.some((r) => r.status === 'delivered');
  }
}

export class DkimDepartures {
  private readonly log?: Logger;
  private readonly counters?: DkimCounters;
  private readonly departures = new FirstDepartures();

  constructor(log?: Logger, counters?: DkimCounters) {
    this.log = log;
    this.counters = counters;
  }

  /** A next hop took `entry` for `to` (`relay`, as the delivery line names it), signed or not as `outcome` says. */
  left(entry: QueueEntry, outcome: SigningOutcome, relay: string, to: string[]): void {
    if (!entry.dkim) return;
    // The queue's delivery line is written by the queue, which does not know the key: this line, with its qid, does.
    if ('domain' in outcome) this.log?.info('DKIM-signed', { qid: entry.id, dkim: `${outcome.domain}/${outcome.selector}`, relay, to });
    if (!this.departures.first(entry)) return;
    if ('domain' in outcome) this.counters?.inc('dkim_signed');
    else this.counters?.count('dkim_unsigned', outcome.unsigned);
  }
}

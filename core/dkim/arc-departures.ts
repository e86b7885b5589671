// What left sealed or not: an `ARC-sealed` line per departure naming the set added, the reason a message to be sealed
// went without a seal said once, and `arc_sealed` / `arc_unsealed{reason}` counted once a message (README.md here).
import type { QueueEntry } from '../queue/entry.ts';
import type { Logger } from '../log/types.ts';
import type { UnsealedReason } from './arc-chain.ts';
import { FirstDepartures } from './departures.ts';

/** The set a message was sealed with, or why it was not. */
export type SealOutcome = { domain: string; selector: string; i: number; cv: string } | { unsealed: UnsealedReason; why: string };

/** The part of the gateway's Metrics these counts go to. */
export interface ArcCounters {
  inc(name: 'arc_sealed'): void;
  count(name: 'arc_unsealed', label: UnsealedReason): void;
}

export class ArcDepartures {
  private readonly log?: Logger;
  private readonly counters?: ArcCounters;
  private readonly departures = new FirstDepartures();

  constructor(log?: Logger, counters?: ArcCounters) {
    this.log = log;
    this.counters = counters;
  }

  /** A next hop (`relay`) took `entry` for `to`, sealed or not as `outcome` says. */
  left(entry: QueueEntry, outcome: SealOutcome, relay: string, to: string[]): void {
    if ('domain' in outcome) {
      this.log?.info('ARC-sealed', { qid: entry.id, arc: `${outcome.domain}/${outcome.selector}`, i: outcome.i, cv: outcome.cv, relay, to });
    }
    // Said and counted once: every attempt and destination would say the same, and a warning per attempt is noise.
    if (!this.departures.first(entry)) return;
    if ('domain' in outcome) { this.counters?.inc('arc_sealed'); return; }
    // A chain that ended is the RFC's rule, not a fault of the gateway's.
    const fields = { qid: entry.id, reason: outcome.unsealed, why: outcome.why, relay, to };
    if (outcome.unsealed === 'chain_ended') this.log?.info('not ARC-sealed', fields);
    else this.log?.warn('not ARC-sealed', fields);
    this.counters?.count('arc_unsealed', outcome.unsealed);
  }
}

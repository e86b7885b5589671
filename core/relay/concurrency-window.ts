// How many connections a pool may have open to its next hop: lowered when the hop turns one away, raised again by the
// deliveries that go through, as Postfix's queue manager adjusts a destination's concurrency window.

/**
 * The window starts at the configured `max` and stays there until the next hop turns a connection away; it then comes
 * down to the connections the hop accepted (never below 1) and climbs back by one after as many completed deliveries
 * as the window is wide, Postfix's default_destination_concurrency_positive_feedback of 1/concurrency: at 3, three
 * deliveries make it 4. A busy destination so recovers within a few dozen messages, where a step a minute kept it
 * low for minutes however much mail waited; a destination sent nothing is never asked for more than it last took.
 *
 * A delivery counts only while it used the whole window (Postfix grows a window only within reach of the deliveries
 * under way): mail that trickles in over one connection says nothing of whether the hop would take one more, and a
 * window grown on it would meet the next burst wider than the hop's limit, with as many refusals.
 */
export class ConcurrencyWindow {
  readonly max: number;
  private width: number;
  /** Deliveries counted toward the next step up since the window last changed. */
  private completed = 0;

  constructor(max: number) {
    this.max = Math.max(1, Math.floor(max));
    this.width = this.max;
  }

  /** The connections allowed now. */
  get size(): number {
    return this.width;
  }

  /**
   * The next hop turned a connection away while it accepted `accepted` others: the window comes down to them (never
   * up, never below 1). Returns whether it came down. The count toward the next step starts over either way: the
   * deliveries before a refusal do not speak for a window the hop has just refused.
   */
  lower(accepted: number): boolean {
    this.completed = 0;
    const to = Math.max(1, Math.min(this.width, Math.floor(accepted)));
    if (to === this.width) return false;
    this.width = to;
    return true;
  }

  /**
   * The next hop asked us to slow down (a 421 or a 4.7.x refusal of MAIL FROM: a rate limit): one connection fewer,
   * never below 1, as Postfix's negative feedback of one per failure. Returns whether it came down. A burst refused
   * so brings a window of 10 down to 1 within 9 refusals, and the deliveries that go through raise it again.
   */
  slowDown(): boolean {
    this.completed = 0;
    if (this.width <= 1) return false;
    this.width--;
    return true;
  }

  /**
   * A delivery went through: a session was set up and carried its transaction to the end (refused recipients
   * included; that is the message's failure, not the connection's). `inUse` is the connections open or being opened
   * that were not idle as it ended, itself included. Returns whether the window grew.
   */
  delivered(inUse: number): boolean {
    if (this.width >= this.max || inUse < this.width) return false;
    if (++this.completed < this.width) return false;
    this.completed = 0;
    this.width++;
    return true;
  }
}

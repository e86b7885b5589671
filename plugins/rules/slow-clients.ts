// Clients whose message ran a regex batch to its deadline, remembered for a while so that their next messages' batches
// wait behind everyone else's: a crafted message is only known by running it, but its sender usually sends more.
// Bounded: the oldest entry goes when a new one would pass `max`.

export class SlowClients {
  private readonly until = new Map<string, number>();
  private readonly holdMs: number;
  private readonly max: number;

  constructor(holdMs: number, max: number) {
    this.holdMs = holdMs;
    this.max = max;
  }

  mark(client: string, now = Date.now()): void {
    // Re-inserted, so the Map's order stays the order of last marks and the first entry is the one to drop.
    this.until.delete(client);
    this.until.set(client, now + this.holdMs);
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value!);
  }

  has(client: string, now = Date.now()): boolean {
    const until = this.until.get(client);
    if (until === undefined) return false;
    if (until > now) return true;
    this.until.delete(client);
    return false;
  }

  get size(): number { return this.until.size; }
}

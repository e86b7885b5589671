// Turns at a scarce resource (the password check's scrypt) shared out among clients in rotation, so that one client's
// pile of guesses cannot keep another client waiting behind all of it: with N clients waiting, each gets a turn at
// least once every N turns, however many requests any one of them has queued. Requests also have a rank: a free slot
// goes to the lowest rank that has anyone waiting, so clients with failed logins behind them (rank 2, say) cannot
// make a client with none (rank 0) wait, however many of them there are; within a rank the rotation holds.
import { Rotation } from './rotation.ts';

/** Where a request waits: its rank (lower goes first), and how many of that rank may wait at once. */
export interface TurnPlace { rank: number; maxWaiting?: number }

/** Refused at once, without a turn, because its rank already has `maxWaiting` requests waiting. */
export class TurnsFull extends Error {
  constructor(rank: number) { super(`too many requests of rank ${rank} waiting`); this.name = 'TurnsFull'; }
}

export class FairTurns {
  private readonly limit: number;
  private running = 0;
  /** One rotation per rank, index = rank; made when a request of that rank first waits. */
  private readonly ranks: Rotation[] = [];

  constructor(limit: number) { this.limit = limit; }

  /** Runs `work` when `key`'s turn comes (at once when a slot is free); throws TurnsFull when its rank is full. */
  async run<T>(key: string, work: () => Promise<T>, place: TurnPlace = { rank: 0 }): Promise<T> {
    if (this.running < this.limit) this.running++;
    else {
      const line = this.ranks[place.rank] ??= new Rotation();
      if (line.size >= (place.maxWaiting ?? Infinity)) throw new TurnsFull(place.rank);
      await new Promise<void>((resolve) => line.enqueue(key, resolve));
    }
    try {
      return await work();
    } finally {
      this.passOn();
    }
  }

  /** Requests waiting now (for tests and metrics). */
  get queued(): number {
    let n = 0;
    for (const line of this.ranks) n += line?.size ?? 0;
    return n;
  }

  /** Requests of `rank` waiting now. */
  queuedAt(rank: number): number { return this.ranks[rank]?.size ?? 0; }

  /** The slot passes straight to the next request, so a newcomer cannot take it in between. */
  private passOn(): void {
    for (const line of this.ranks) {
      const next = line?.next();
      if (next) { next(); return; }
    }
    this.running--;
  }
}

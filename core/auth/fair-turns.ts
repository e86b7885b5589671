// Turns at a scarce resource (the password check's scrypt) shared out among clients in rotation, so that one client's
// pile of guesses cannot keep another client waiting behind all of it: with N clients waiting, each gets a turn at
// least once every N turns, however many requests any one of them has queued.

export class FairTurns {
  private readonly limit: number;
  private running = 0;
  /** Waiting requests by client key, in arrival order; a key is removed when it has none left. */
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Keys with waiting requests, in the order their next turn comes. */
  private readonly rotation: string[] = [];

  constructor(limit: number) { this.limit = limit; }

  /** Runs `work` when `key`'s turn comes (at once when a slot is free). */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve) => this.enqueue(key, resolve));
    try {
      return await work();
    } finally {
      this.passOn();
    }
  }

  /** Requests waiting now (for tests and metrics). */
  get queued(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  private enqueue(key: string, resolve: () => void): void {
    const q = this.waiting.get(key);
    if (q) { q.push(resolve); return; }
    this.waiting.set(key, [resolve]);
    this.rotation.push(key);
  }

  /** The slot passes straight to the next client in rotation, so a newcomer cannot take it in between. */
  private passOn(): void {
    const key = this.rotation.shift();
    if (key === undefined) { this.running--; return; }
    const q = this.waiting.get(key)!;
    const next = q.shift()!;
    // A client with more waiting goes to the back of the rotation: everyone else waiting comes first.
    if (q.length) this.rotation.push(key); else this.waiting.delete(key);
    next();
  }
}

// A counting semaphore that bounds the scans in flight; a caller that waits too long gets an error instead of a slot.
//
// Large scans have a smaller cap of their own, so a few big messages, which hold a slot for seconds, cannot take
// every slot and leave ordinary mail waiting past `max_wait` (a 451 for everyone's small mail). A small scan may
// take any free slot.

interface Waiter {
  readonly large: boolean;
  readonly grant: () => void;
}

export class Limiter {
  private readonly max: number;
  private readonly maxLarge: number;
  private active = 0;
  private activeLarge = 0;
  private readonly waiting: Waiter[] = [];

  /** `maxLarge` (at most `max`) is how many of the `max` slots large scans may hold at once. */
  constructor(max: number, maxLarge = max) {
    this.max = max;
    this.maxLarge = Math.min(maxLarge, max);
  }

  get inFlight(): number { return this.active; }
  get largeInFlight(): number { return this.activeLarge; }
  get queued(): number { return this.waiting.length; }

  /** Runs `task` once a slot is free (for a large one, also one of the large share); rejects with `onTimeout()` if none frees up within `waitMs`. */
  async run<T>(task: () => Promise<T>, waitMs: number, onTimeout: () => Error, large = false): Promise<T> {
    // Every waiter that could start was started when the last slot came free, so one that can start now jumps no queue.
    if (this.canStart(large)) this.take(large);
    else await this.wait(large, waitMs, onTimeout);
    try {
      return await task();
    } finally {
      this.active--;
      if (large) this.activeLarge--;
      this.grantWaiting();
    }
  }

  private canStart(large: boolean): boolean {
    return this.active < this.max && (!large || this.activeLarge < this.maxLarge);
  }

  private take(large: boolean): void {
    this.active++;
    if (large) this.activeLarge++;
  }

  /** In arrival order, skipping large waiters while the large share is full, so small mail behind them goes on. */
  private grantWaiting(): void {
    for (let i = 0; i < this.waiting.length && this.active < this.max;) {
      const w = this.waiting[i];
      if (!this.canStart(w.large)) { i++; continue; }
      this.waiting.splice(i, 1);
      this.take(w.large);
      w.grant();
    }
  }

  private wait(large: boolean, waitMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { large, grant: () => { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(onTimeout());
      }, waitMs);
      this.waiting.push(waiter);
    });
  }
}

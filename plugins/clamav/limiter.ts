// A counting semaphore that bounds the scans in flight; a caller that waits too long gets an error instead of a slot.

export class Limiter {
  private readonly max: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(max: number) {
    this.max = max;
  }

  get inFlight(): number { return this.active; }
  get queued(): number { return this.waiting.length; }

  /** Runs `task` once a slot is free; rejects with `onTimeout()` if none frees up within `waitMs`. */
  async run<T>(task: () => Promise<T>, waitMs: number, onTimeout: () => Error): Promise<T> {
    if (this.active >= this.max) await this.wait(waitMs, onTimeout);
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next(); else this.active--;
    }
  }

  private wait(waitMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      const grant = () => { clearTimeout(timer); resolve(); };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(onTimeout());
      }, waitMs);
      this.waiting.push(grant);
    });
  }
}

// Requests waiting by client key, served one key at a time in rotation (see fair-turns.ts).

export class Rotation {
  /** Waiting requests by client key, in arrival order; a key is removed when it has none left. */
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Keys with waiting requests, in the order their next turn comes. */
  private readonly order: string[] = [];
  private count = 0;

  enqueue(key: string, resolve: () => void): void {
    this.count++;
    const q = this.waiting.get(key);
    if (q) { q.push(resolve); return; }
    this.waiting.set(key, [resolve]);
    this.order.push(key);
  }

  /** The request whose turn it is, taken out of the rotation; undefined when none waits. */
  next(): (() => void) | undefined {
    const key = this.order.shift();
    if (key === undefined) return undefined;
    const q = this.waiting.get(key)!;
    const first = q.shift()!;
    this.count--;
    // A client with more waiting goes to the back of the rotation: everyone else waiting comes first.
    if (q.length) this.order.push(key); else this.waiting.delete(key);
    return first;
  }

  /** Requests waiting. */
  get size(): number { return this.count; }
}

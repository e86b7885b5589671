// Learned token counts kept in the state store, so gateways sharing a Redis store learn from each other.
// Each learned message adds to atomic counters (no read-modify-write, so no lost updates between gateways);
// each gateway reads the counters back every sync interval into a dictionary layer of its own.
import type { StateStore } from '../../core/index.ts';
import { Dictionary } from './engine/dictionary.ts';

export class SharedCounts {
  private store: StateStore;
  private prefix: string;

  constructor(store: StateStore, namespace: string) {
    this.store = store;
    this.prefix = `bayes:${namespace}:`;
  }

  /** Adds one learned message. Tokens are counted in parallel; each is an independent atomic increment. */
  async learn(tokens: Iterable<string>, isSpam: boolean): Promise<void> {
    const cls = isSpam ? 's' : 'h';
    const ops: Array<Promise<number>> = [];
    for (const t of tokens) ops.push(this.store.incr(`${this.prefix}${cls}:${t}`, 1));
    await Promise.all(ops);
    // The message total goes last: a reader never sees more messages than token counts justify.
    await this.store.incr(`${this.prefix}n${cls}`, 1);
  }

  /** Every shared count, as a dictionary. */
  async read(): Promise<Dictionary> {
    const d = new Dictionary();
    const skip = this.prefix.length;
    for await (const [key, value] of this.store.scan(this.prefix)) {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) continue;
      const rest = key.slice(skip);
      if (rest === 'ns') d.nspam = n;
      else if (rest === 'nh') d.nham = n;
      else if (rest.startsWith('s:')) d.add(rest.slice(2), n, 0);
      else if (rest.startsWith('h:')) d.add(rest.slice(2), 0, n);
    }
    return d;
  }
}

/** True when the store is shared between gateways (Redis), judged by its class. */
export function isSharedStore(store: StateStore): boolean {
  return /redis/i.test(store.constructor?.name ?? '');
}

// Probe results in the gateway's state store, so every gateway sharing it (Redis) asks the server behind once per address.
import type { StateStore } from '../../core/index.ts';

export interface Known { status: 'accepted' | 'refused'; reply: string }

const PREFIX = 'rcptverify:addr:';

/** Lower-cased as a whole: the server behind sees the address as given, but one answer stands for every spelling. */
export function cacheKey(address: string): string {
  return PREFIX + address.toLowerCase();
}

export class ResultCache {
  private readonly store: StateStore;
  private readonly positiveTtl: number;
  private readonly negativeTtl: number;

  constructor(store: StateStore, positiveTtl: number, negativeTtl: number) {
    this.store = store;
    this.positiveTtl = positiveTtl;
    this.negativeTtl = negativeTtl;
  }

  async get(address: string): Promise<Known | undefined> {
    const raw = await this.store.get(cacheKey(address));
    if (raw === null) return undefined;
    // An entry this version cannot read (written by another one) is a miss, not an answer.
    try {
      const v = JSON.parse(raw) as Partial<Known>;
      if ((v.status === 'accepted' || v.status === 'refused') && typeof v.reply === 'string') return { status: v.status, reply: v.reply };
    } catch { /* a miss */ }
    return undefined;
  }

  async put(address: string, known: Known): Promise<void> {
    const ttl = known.status === 'accepted' ? this.positiveTtl : this.negativeTtl;
    await this.store.set(cacheKey(address), JSON.stringify(known), ttl);
  }
}

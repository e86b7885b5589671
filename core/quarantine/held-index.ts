// Who has what held, for the recipients' pages. Reading the whole quarantine at each view cost every message file's
// state for one recipient's page (0.4 s and 20 MB at 20,000 held; 20 views at once: 7.6 s, +438 MB, and SMTP intake
// slowed to 5 s), and anyone holding any recipient's link could ask again and again. The folder is now read at
// most once per `maxAgeMs`, however many pages are viewed, into an index of ids by recipient; a page then loads
// only the messages it shows, and checks each is still held.
import type { QueueStore } from '../queue/queue-store.ts';
import type { QueueEntry } from '../queue/entry.ts';
import { forEachBounded } from '../queue/for-each-bounded.ts';
import { heldRecipientIndex } from './released-copy.ts';

interface Held { id: string; receivedAt: number }

/** Message files read at once for a page. */
const READS_IN_FLIGHT = 16;

export class HeldIndex {
  private readonly store: QueueStore;
  private readonly maxAgeMs: number;
  private built: { at: number; byRecipient: Map<string, Held[]> } | undefined;
  private building: Promise<Map<string, Held[]>> | undefined;

  constructor(store: QueueStore, maxAgeMs = 10_000) {
    this.store = store;
    this.maxAgeMs = maxAgeMs;
  }

  /** Forgets the index, after a page changed what is held: the recipient's next view reads the folder again. */
  invalidate(): void {
    this.built = undefined;
  }

  /**
   * The newest `max` messages held for `address`, newest first, each loaded now and still held for it, and how many
   * the index has for it in all. A message quarantined since the index was built shows at the next build.
   */
  async newest(address: string, max: number): Promise<{ entries: QueueEntry[]; total: number }> {
    const all = (await this.index()).get(address.toLowerCase()) ?? [];
    const loaded: Array<QueueEntry | undefined> = [];
    await forEachBounded(all.slice(0, max).map((h, i) => [h, i] as const), READS_IN_FLIGHT, async ([h, i]) => {
      const e = await this.store.load(h.id, 'quarantine');
      loaded[i] = e && heldRecipientIndex(e, address) >= 0 ? e : undefined;
    });
    const entries = loaded.filter((e): e is QueueEntry => !!e);
    return { entries, total: all.length - (Math.min(all.length, max) - entries.length) };
  }

  private async index(): Promise<Map<string, Held[]>> {
    if (this.built && Date.now() - this.built.at < this.maxAgeMs) return this.built.byRecipient;
    this.building ??= this.build().finally(() => { this.building = undefined; });
    return this.building;
  }

  private async build(): Promise<Map<string, Held[]>> {
    const at = Date.now();
    const byRecipient = new Map<string, Held[]>();
    for (const e of await this.store.list('quarantine')) {
      for (const r of e.recipients) {
        if (r.status !== 'pending') continue;
        const key = r.address.toLowerCase();
        const list = byRecipient.get(key);
        const held = { id: e.id, receivedAt: e.receivedAt };
        if (!list) byRecipient.set(key, [held]);
        else if (list.at(-1)?.id !== e.id) list.push(held); // one address listed twice in a message is one message
      }
    }
    for (const list of byRecipient.values()) list.sort((a, b) => b.receivedAt - a.receivedAt || (a.id < b.id ? 1 : -1));
    this.built = { at, byRecipient };
    return byRecipient;
  }
}

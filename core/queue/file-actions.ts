// Queue actions on the files, for when no gateway runs: the next start picks the changes up.
import type { QueueFolder, QueueStore } from './queue-store.ts';
import type { QueueEntry } from './entry.ts';
import type { BrokenMessage } from './broken-messages.ts';
import { dropRecipients, hasPending, type ActionResult, type QueueActions } from './actions.ts';

export class FileQueueActions implements QueueActions {
  private readonly store: QueueStore;
  constructor(store: QueueStore) { this.store = store; }

  /**
   * No gateway runs: a change makes this process own the journal until it exits (the next start takes it over
   * again). Only then: taking it over deletes emptied segments, and `list` and `show` must change nothing.
   */
  private async own(): Promise<void> { await this.store.takeOverJournal(); }

  async flush(id?: string): Promise<number> {
    await this.own();
    const entries = id ? [await this.store.load(id)].filter((e) => !!e) : await this.store.list();
    let n = 0;
    const now = Date.now();
    for (const e of entries) {
      if (e.held || e.nextAttemptAt <= now) continue;
      e.nextAttemptAt = now;
      await this.store.update(e);
      n++;
    }
    return n;
  }

  async hold(id: string): Promise<ActionResult> {
    await this.own();
    const e = await this.store.load(id);
    if (!e) return 'missing';
    if (e.held) return 'unchanged';
    e.held = true;
    await this.store.update(e);
    return 'done';
  }

  async release(id: string): Promise<ActionResult> {
    await this.own();
    const e = await this.store.load(id);
    if (!e) return 'missing';
    if (!e.held) return 'unchanged';
    e.held = false;
    e.nextAttemptAt = Date.now();
    await this.store.update(e);
    return 'done';
  }

  setAsideIfCut(entry: QueueEntry, folder: QueueFolder): Promise<BrokenMessage | undefined> {
    return this.store.setAsideIfCut(entry, folder);
  }

  async delete(id: string, opts: { to?: string } = {}): Promise<ActionResult> {
    await this.own();
    const e = await this.store.load(id);
    if (!e) return 'missing';
    if (opts.to) {
      if (dropRecipients(e, opts.to) === 0) return 'unchanged';
      if (hasPending(e)) { await this.store.update(e); return 'done'; }
    }
    await this.store.remove(id);
    return 'done';
  }
}

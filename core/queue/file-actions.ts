// Queue actions on the files, for when no gateway runs: the next start picks the changes up.
import type { QueueStore } from './queue-store.ts';
import { dropRecipients, hasPending, type ActionResult, type QueueActions } from './actions.ts';

export class FileQueueActions implements QueueActions {
  private readonly store: QueueStore;
  constructor(store: QueueStore) {
    this.store = store;
    // No gateway runs: this process owns the journal until it exits (the next start takes it over again).
    store.takeOverJournal();
  }

  async flush(id?: string): Promise<number> {
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
    const e = await this.store.load(id);
    if (!e) return 'missing';
    if (e.held) return 'unchanged';
    e.held = true;
    await this.store.update(e);
    return 'done';
  }

  async release(id: string): Promise<ActionResult> {
    const e = await this.store.load(id);
    if (!e) return 'missing';
    if (!e.held) return 'unchanged';
    e.held = false;
    e.nextAttemptAt = Date.now();
    await this.store.update(e);
    return 'done';
  }

  async delete(id: string, opts: { to?: string } = {}): Promise<ActionResult> {
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

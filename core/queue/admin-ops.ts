// What `moat queue` can do to any message an admin names: the delivery queue's own actions, and for a message that
// is not in the queue, the same verbs on the quarantine and dead-letter folders (release a false positive, delete).
// One implementation serves both the running gateway (behind its control socket) and the files alone.
import { existsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Logger } from '../log/types.ts';
import { formatHeader } from '../message/header-block.ts';
import { dropRecipients, hasPending, type ActionResult, type QueueActions } from './actions.ts';
import type { QueueEntry } from './entry.ts';
import type { QueueFolder, QueueStore } from './queue-store.ts';

/** `dead-letter`: the message is in the dead-letter folder, where only delete applies. */
export type AdminResult = ActionResult | 'dead-letter';

export interface AdminActions {
  flush(id?: string): Promise<number>;
  hold(id: string): Promise<AdminResult>;
  release(id: string): Promise<AdminResult>;
  delete(id: string, opts?: { to?: string }): Promise<AdminResult>;
}

/** One of the verbs `moat queue` applies to many messages, on one of them. */
export function runAdminAction(actions: AdminActions, action: 'flush' | 'hold' | 'release' | 'delete', id: string, opts: { to?: string } = {}): Promise<AdminResult | number> {
  return action === 'flush' ? actions.flush(id) : action === 'hold' ? actions.hold(id) : action === 'release' ? actions.release(id) : actions.delete(id, opts);
}

const mailDate = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');

/** The first of `folders` that holds message `id`, or undefined. */
export async function folderHolding(store: QueueStore, id: string, folders: readonly QueueFolder[] = ['queue', 'quarantine', 'deadletter']): Promise<QueueFolder | undefined> {
  for (const folder of folders) if (await store.load(id, folder)) return folder;
  return undefined;
}

export class FolderAwareActions implements AdminActions {
  private readonly queue: QueueActions;
  private readonly store: QueueStore;
  /** Hands a released message to the relay workers; absent when no gateway runs (its next start delivers it). */
  private readonly schedule?: (entry: QueueEntry) => void;
  private readonly log?: Logger;

  constructor(queue: QueueActions, store: QueueStore, opts: { schedule?: (entry: QueueEntry) => void; log?: Logger } = {}) {
    this.queue = queue;
    this.store = store;
    this.schedule = opts.schedule;
    this.log = opts.log;
  }

  flush(id?: string): Promise<number> { return this.queue.flush(id); }

  async hold(id: string): Promise<AdminResult> {
    const r = await this.queue.hold(id);
    if (r !== 'missing') return r;
    // A quarantined message is never delivered until it is released: holding it changes nothing.
    const folder = await this.folderOf(id);
    return folder === 'quarantine' ? 'unchanged' : folder === 'deadletter' ? 'dead-letter' : 'missing';
  }

  async release(id: string): Promise<AdminResult> {
    const r = await this.queue.release(id);
    if (r !== 'missing') return r;
    const folder = await this.folderOf(id);
    if (folder === 'quarantine') return this.releaseFromQuarantine(id);
    return folder === 'deadletter' ? 'dead-letter' : 'missing';
  }

  async delete(id: string, opts: { to?: string } = {}): Promise<AdminResult> {
    const r = await this.queue.delete(id, opts);
    if (r !== 'missing') return r;
    const folder = await this.folderOf(id);
    return folder ? this.deleteIn(folder, id, opts.to) : 'missing';
  }

  /** Where a message the queue does not hold is kept, if anywhere. */
  private folderOf(id: string): Promise<QueueFolder | undefined> {
    return folderHolding(this.store, id, ['quarantine', 'deadletter']);
  }

  /**
   * Moves the message into the queue, due now, as it was stored: not scanned again, its verdict headers kept (they
   * record why it was held), plus one header saying an admin released it, so the mailbox side can tell.
   */
  private async releaseFromQuarantine(id: string): Promise<AdminResult> {
    const entry = await this.store.load(id, 'quarantine');
    if (!entry) return 'missing';
    const now = Date.now();
    entry.held = false;
    entry.nextAttemptAt = now;
    entry.prepend += formatHeader('X-Mailmoat-Released', `from quarantine by the administrator; ${mailDate(now)}`);
    try {
      await this.store.commitTo('queue', entry, 'quarantine');
    } catch (e) {
      // Still in the quarantine (a full disk): a state file left in the queue without its message would be taken
      // for a broken one at the next start.
      if (existsSync(this.store.emlPath(id, 'quarantine'))) await unlink(this.store.jsonPath(id, 'queue')).catch(() => undefined);
      throw e;
    }
    this.log?.info('released from quarantine', { qid: id, to: entry.recipients.filter((r) => r.status === 'pending').map((r) => r.address) });
    this.schedule?.(entry);
    return 'done';
  }

  private async deleteIn(folder: QueueFolder, id: string, domain?: string): Promise<AdminResult> {
    const entry = await this.store.load(id, folder);
    if (!entry) return 'missing';
    if (domain) {
      const n = dropRecipients(entry, domain);
      if (n === 0) return 'unchanged';
      if (hasPending(entry)) {
        await this.store.update(entry, folder);
        this.log?.info('recipients deleted', { qid: id, folder, domain, count: n });
        return 'done';
      }
    }
    await this.store.remove(id, folder);
    this.log?.info('deleted', { qid: id, folder });
    return 'done';
  }
}

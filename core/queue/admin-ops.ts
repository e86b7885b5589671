// What `moat queue` can do to any message an admin names: the delivery queue's own actions, and for a message that
// is not in the queue, the same verbs on the quarantine and dead-letter folders (release a false positive, requeue a
// dead-lettered message once its cause is fixed, delete).
// One implementation serves both the running gateway (behind its control socket) and the files alone.
import { existsSync } from 'node:fs';
import { copyFile, open, unlink } from 'node:fs/promises';
import type { Logger } from '../log/types.ts';
import { dropRecipients, reviveFailed, selectionFields, type ActionResult, type QueueActions } from './actions.ts';
import type { QueueEntry } from './entry.ts';
import type { Counters } from './delivery-queue.ts';
import type { QueueFolder, QueueStore } from './queue-store.ts';
import { DirSync } from './dir-sync.ts';
import { anyHeld, heldRecipientIndex, markRecipientDone, releasedCopy, releasedCopyId, releasedPrepend, type ReleasedBy } from '../quarantine/released-copy.ts';
import { heldForText, recipientMayRelease } from '../quarantine/summary.ts';

/**
 * `dead-letter`: the message is in the dead-letter folder, where hold and release do not apply (requeue or delete do).
 * `quarantine`: a requeue named a quarantined message, which release delivers.
 */
export type AdminResult = ActionResult | 'dead-letter' | 'quarantine';

/** The verbs `moat queue` applies to many messages at once. */
export type AdminVerb = 'flush' | 'hold' | 'release' | 'delete' | 'requeue';

export interface AdminActions {
  flush(id?: string): Promise<number>;
  hold(id: string): Promise<AdminResult>;
  release(id: string): Promise<AdminResult>;
  delete(id: string, opts?: { to?: string }): Promise<AdminResult>;
  /**
   * Puts a dead-lettered message back in the queue, its failed recipients (with `to`, those in that domain) pending.
   * Optional: the control client sends it in bulk requests only (ControlClient.bulk).
   */
  requeue?(id: string, opts?: { to?: string }): Promise<AdminResult>;
  /**
   * A quarantined message delivered to one of its recipients only (`unchanged`: no such recipient still held;
   * `missing`: not in the quarantine). Optional: the admin trail of edits without a gateway does not carry it.
   */
  releaseForRecipient?(id: string, address: string, by?: ReleasedBy): Promise<AdminResult>;
  /** One recipient of a quarantined message dropped; the message goes once no recipient is left. */
  deleteForRecipient?(id: string, address: string, by?: ReleasedBy): Promise<AdminResult>;
}

/** One of the verbs `moat queue` applies to many messages, on one of them. */
export function runAdminAction(actions: AdminActions, action: AdminVerb, id: string, opts: { to?: string } = {}): Promise<AdminResult | number> {
  switch (action) {
    case 'flush': return actions.flush(id);
    case 'hold': return actions.hold(id);
    case 'release': return actions.release(id);
    case 'delete': return actions.delete(id, opts);
    case 'requeue':
      if (!actions.requeue) return Promise.reject(new Error('requeue is not available here'));
      return actions.requeue(id, opts);
  }
}

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
  /** The running gateway's metrics (`released`, `requeued`); absent on the files, where no metric runs. */
  private readonly counters?: Counters;
  /**
   * Copies queued for one recipient whose mark in the quarantined entry (step 2) has not been written yet, as after a
   * full disk: a release asked again must only redo the mark, even once the copy has been delivered and left the queue.
   */
  private readonly copiesAwaitingMark = new Set<string>();

  constructor(queue: QueueActions, store: QueueStore, opts: { schedule?: (entry: QueueEntry) => void; log?: Logger; counters?: Counters } = {}) {
    this.queue = queue;
    this.store = store;
    this.schedule = opts.schedule;
    this.log = opts.log;
    this.counters = opts.counters;
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
   * Moves the message into the queue, due now, as it was stored: not scanned again, with the headers of a release
   * (releasedPrepend: X-Mailmoat-Spam says No, X-Mailmoat-Released says an admin released it).
   */
  private async releaseFromQuarantine(id: string): Promise<AdminResult> {
    const entry = await this.store.load(id, 'quarantine');
    if (!entry) return 'missing';
    await this.refuseIfCut(entry, 'quarantine');
    const now = Date.now();
    entry.held = false;
    entry.nextAttemptAt = now;
    // The queue's lifetime counts from the release, as for a requeue: a message kept in the quarantine longer than
    // the lifetime would otherwise expire at its first deferral and bounce. Its arrival stays in its history.
    entry.history.push({ at: now, result: `released from quarantine by the administrator (first received ${new Date(entry.receivedAt).toISOString()})` });
    entry.receivedAt = now;
    entry.prepend = releasedPrepend(entry.prepend, 'the administrator', now);
    await this.moveIntoQueue(entry, 'quarantine');
    this.counters?.inc('released');
    // A message no recipient may release (a virus) is the administrator's call: the line says what it was held for.
    const heldFor = recipientMayRelease(entry) ? {} : { held_for: heldForText(entry) };
    this.log?.info('released from quarantine', { qid: id, to: entry.recipients.filter((r) => r.status === 'pending').map((r) => r.address), ...heldFor });
    this.schedule?.(entry);
    return 'done';
  }

  /**
   * Puts a dead-lettered message back in the queue once the cause is fixed (Postfix's `postsuper -r`): its failed
   * recipients (with `to`, only those in that domain) are pending again and due now; delivered ones stay delivered and
   * are not sent again. The retry schedule and the lifetime start over: attempts go back to 0 and the message counts as
   * received now (its first arrival is kept in its history), else a message dead-lettered for an expired lifetime would
   * expire again at its first deferral.
   */
  async requeue(id: string, opts: { to?: string } = {}): Promise<AdminResult> {
    const entry = await this.store.load(id, 'deadletter');
    if (!entry) {
      const folder = await folderHolding(this.store, id, ['quarantine', 'queue']);
      return folder === 'quarantine' ? 'quarantine' : folder === 'queue' ? 'unchanged' : 'missing';
    }
    await this.refuseIfCut(entry, 'deadletter');
    const firstReceived = entry.receivedAt;
    const revived = reviveFailed(entry, opts.to);
    if (revived === 0) return 'unchanged';
    const now = Date.now();
    const again = entry.recipients.filter((r) => r.status === 'pending').map((r) => r.address);
    entry.held = false;
    entry.attempts = 0;
    entry.nextAttemptAt = now;
    entry.receivedAt = now;
    delete entry.delayNotices;
    entry.history.push({ at: now, result: `requeued from dead-letter by the administrator: ${again.join(', ')} (first received ${new Date(firstReceived).toISOString()})` });
    await this.moveIntoQueue(entry, 'deadletter');
    this.counters?.inc('requeued');
    this.log?.info('requeued from dead-letter', { qid: id, ...(opts.to ? selectionFields(opts.to) : {}), to: again });
    this.schedule?.(entry);
    return 'done';
  }

  /**
   * Delivers a quarantined message to one of its recipients: a copy of it for that recipient alone goes into the
   * queue, and the recipient is marked done in the quarantined entry (which goes once no recipient is left).
   *
   * The order is what makes it crash-safe: (1) the copy is made durable in the queue (message file fsync'd, then its
   * state file, then the directory), and only then (2) the recipient is marked done. The other order, killed between
   * the two, would lose the message for that recipient. Killed between (1) and (2), the copy is queued and the
   * recipient still shows as held; the copy's id is fixed by the message and the recipient (releasedCopyId), so a
   * release run again finds the copy queued and only does (2), and the next start's recovery does (2) before it
   * delivers the copy (QueueStore.recover), so the recipient is not offered the release twice. Killed inside (1),
   * the copy has no state file: recovery deletes it as never acknowledged, and the recipient is still held.
   */
  async releaseForRecipient(id: string, address: string, by: ReleasedBy = 'administrator'): Promise<AdminResult> {
    const entry = await this.store.load(id, 'quarantine');
    if (!entry) return 'missing';
    // The pages refuse it first (a 403 page); this keeps any other way for a recipient's release shut as well.
    if (by === 'recipient' && !recipientMayRelease(entry)) throw new Error(`quarantined message ${id} may be released by an administrator only`);
    const index = heldRecipientIndex(entry, address);
    if (index < 0) return 'unchanged';
    const copyId = releasedCopyId(id, index);
    const queued = existsSync(this.store.emlPath(copyId)) ? await this.store.load(copyId) : undefined;
    const copy = queued ?? releasedCopy(entry, index, by);
    if (!queued && !this.copiesAwaitingMark.has(copyId)) {
      await this.refuseIfCut(entry, 'quarantine');
      await this.queueCopy(id, copy);
      this.copiesAwaitingMark.add(copyId);
      // Scheduled once durable, whatever step (2) does: a queued copy is always delivered. A copy found queued was
      // scheduled when it was queued, or by the start that recovered it.
      this.schedule?.(copy);
    }
    markRecipientDone(entry, index, { released: copyId });
    await this.keepOrRemove(entry);
    this.copiesAwaitingMark.delete(copyId);
    this.counters?.inc('released');
    this.log?.info('released from quarantine for one recipient', { qid: id, copy_qid: copyId, to: [copy.recipients[0].address], by, ...(recipientMayRelease(entry) ? {} : { held_for: heldForText(entry) }) });
    return 'done';
  }

  /** Drops one recipient of a quarantined message; the message goes once no recipient is left. */
  async deleteForRecipient(id: string, address: string, by: ReleasedBy = 'administrator'): Promise<AdminResult> {
    const entry = await this.store.load(id, 'quarantine');
    if (!entry) return 'missing';
    const index = heldRecipientIndex(entry, address);
    if (index < 0) return 'unchanged';
    const to = entry.recipients[index].address;
    markRecipientDone(entry, index, { deletedBy: by });
    await this.keepOrRemove(entry);
    this.log?.info('deleted from quarantine for one recipient', { qid: id, to: [to], by });
    return 'done';
  }

  /**
   * A message whose file is shorter than its state says (a copy of data_dir taken while it was written) is never put
   * back in the queue to go out cut: it is set aside in data_dir/corrupt with its state and the action fails, saying so.
   */
  private async refuseIfCut(entry: QueueEntry, folder: 'quarantine' | 'deadletter'): Promise<void> {
    const found = await this.queue.setAsideIfCut(entry, folder);
    if (!found) return;
    const verb = folder === 'quarantine' ? 'released' : 'requeued';
    throw new Error(`message ${entry.id} not ${verb}: ${found.reason}; it is set aside as ${found.path} with its state file until mended`);
  }

  /** Step (1) of releaseForRecipient: the quarantined bytes copied into the queue with the copy's state, all durable. */
  private async queueCopy(fromId: string, copy: QueueEntry): Promise<void> {
    const file = this.store.emlPath(copy.id);
    try {
      await copyFile(this.store.emlPath(fromId, 'quarantine'), file);
      const fh = await open(file, 'r+');
      try { await fh.sync(); } finally { await fh.close(); }
      // The state file makes it a message (a .eml alone is taken for one never acknowledged), so it comes last.
      await this.store.update(copy);
      await new DirSync(this.store.dirs.queue).sync();
    } catch (e) {
      // A full disk: the recipient is still held in the quarantine; half a copy must not be taken for a message.
      await unlink(this.store.jsonPath(copy.id)).catch(() => undefined);
      await unlink(file).catch(() => undefined);
      throw e;
    }
  }

  private async keepOrRemove(entry: QueueEntry): Promise<void> {
    if (anyHeld(entry)) await this.store.update(entry, 'quarantine');
    else {
      await this.store.remove(entry.id, 'quarantine');
      this.log?.info('quarantine entry removed: no recipient left', { qid: entry.id });
    }
  }

  /** Moves a message from the quarantine or dead-letter into the queue, with its new state. */
  private async moveIntoQueue(entry: QueueEntry, from: 'quarantine' | 'deadletter'): Promise<void> {
    try {
      await this.store.commitTo('queue', entry, from);
    } catch (e) {
      // Still in its folder (a full disk): a state file left in the queue without its message would be taken for a
      // broken one at the next start.
      if (existsSync(this.store.emlPath(entry.id, from))) await unlink(this.store.jsonPath(entry.id, 'queue')).catch(() => undefined);
      throw e;
    }
  }

  /** Deletes a message of `folder`, or with `to` only the recipients it names (a domain's, or one address). */
  private async deleteIn(folder: QueueFolder, id: string, to?: string): Promise<AdminResult> {
    const entry = await this.store.load(id, folder);
    if (!entry) return 'missing';
    if (to) {
      // In dead-letter the recipients still to do are the failed ones; delivered ones never count.
      const open = folder === 'deadletter' ? 'failed' : 'pending';
      const n = dropRecipients(entry, to, open);
      if (n === 0) return 'unchanged';
      if (entry.recipients.some((r) => r.status === open)) {
        await this.store.update(entry, folder);
        this.log?.info('recipients deleted', { qid: id, folder, ...selectionFields(to), count: n });
        return 'done';
      }
    }
    await this.store.remove(id, folder);
    this.log?.info('deleted', { qid: id, folder });
    return 'done';
  }
}

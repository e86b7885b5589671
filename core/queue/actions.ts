// What an admin can do to queued messages, and the same rules whether the gateway does it live or the CLI edits files.
import type { QueueEntry } from './entry.ts';

/**
 * `delivered`: the message was being delivered when the action came; the action waited for that attempt, which
 * delivered it to every recipient left, so nothing was left to act on (what `missing` would wrongly say).
 */
export type ActionResult = 'done' | 'missing' | 'unchanged' | 'delivered';

/** The steering operations of `moat queue`: one implementation in the running gateway, one on the files. */
export interface QueueActions {
  /** Retry now: one message, or all that wait for their next attempt. Returns how many were due. */
  flush(id?: string): Promise<number>;
  hold(id: string): Promise<ActionResult>;
  release(id: string): Promise<ActionResult>;
  /** Deletes a message, or with `to` only its pending recipients in that domain (the message goes when none is left). */
  delete(id: string, opts?: { to?: string }): Promise<ActionResult>;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/\.$/, '');
}

/** A domain as an admin types it (`--to @Example.org.`), in the form domainOf gives. */
export const domainArg = (domain: string): string => domain.toLowerCase().replace(/^@/, '').replace(/\.$/, '');

/**
 * Marks the recipients in `domain` deleted that are still to do: pending ones, or in dead-letter the failed ones (what
 * a requeue would send again); returns how many.
 */
export function dropRecipients(entry: QueueEntry, domain: string, status: 'pending' | 'failed' = 'pending'): number {
  const d = domainArg(domain);
  let n = 0;
  for (const r of entry.recipients) {
    if (r.status === status && domainOf(r.address) === d) { r.status = 'deleted'; r.reply = 'deleted by the administrator'; n++; }
  }
  return n;
}

export const hasPending = (entry: QueueEntry) => entry.recipients.some((r) => r.status === 'pending');

/**
 * Makes the failed recipients (in `domain` only, when given) pending again, for a dead-lettered message an admin puts
 * back in the queue; returns how many. Delivered and deleted recipients keep their state, so they are not sent again.
 * Their failure notice was sent: a new failure is reported anew, as for a message Postfix's `postsuper -r` requeued.
 */
export function reviveFailed(entry: QueueEntry, domain?: string): number {
  const d = domain === undefined ? undefined : domainArg(domain);
  let n = 0;
  for (const r of entry.recipients) {
    if (r.status !== 'failed' || (d !== undefined && domainOf(r.address) !== d)) continue;
    r.status = 'pending';
    delete r.notified;
    n++;
  }
  return n;
}

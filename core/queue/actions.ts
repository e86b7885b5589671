// What an admin can do to queued messages, and the same rules whether the gateway does it live or the CLI edits files.
import type { QueueEntry } from './entry.ts';

export type ActionResult = 'done' | 'missing' | 'unchanged';

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

/** Marks the pending recipients in `domain` deleted; returns how many. */
export function dropRecipients(entry: QueueEntry, domain: string): number {
  const d = domain.toLowerCase().replace(/^@/, '').replace(/\.$/, '');
  let n = 0;
  for (const r of entry.recipients) {
    if (r.status === 'pending' && domainOf(r.address) === d) { r.status = 'deleted'; r.reply = 'deleted by the administrator'; n++; }
  }
  return n;
}

export const hasPending = (entry: QueueEntry) => entry.recipients.some((r) => r.status === 'pending');

// What an admin can do to queued messages, and the same rules whether the gateway does it live or the CLI edits files.
import type { QueueEntry } from './entry.ts';
import type { QueueFolder } from './queue-store.ts';
import type { BrokenMessage } from './broken-messages.ts';
import { mailboxKey } from '../lists/address-matcher.ts';
import { comparableDomain } from '../text/idn-address.ts';

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
  /**
   * Deletes a message, or with `to` only its pending recipients in that domain, or that one recipient when `to` is an
   * address (the message goes when none is left).
   */
  delete(id: string, opts?: { to?: string }): Promise<ActionResult>;
  /**
   * A message of `folder` whose file is cut short, set aside before it could go out cut (QueueStore.setAsideIfCut):
   * through the store whose log and queue_broken count the running gateway keeps, when one runs.
   */
  setAsideIfCut(entry: QueueEntry, folder: QueueFolder): Promise<BrokenMessage | undefined>;
}

/**
 * An address's domain in the one form the queue compares and groups it in: lower-case A-labels, composed (NFC) first,
 * without the root dot. Mail an older gateway stored under `müller.example` (taken under SMTPUTF8) and under
 * `xn--mller-kva.example` is one domain's, for `--to`, `overview` and `--shape` alike.
 */
export function domainOf(address: string): string {
  return comparableDomain(address.slice(address.lastIndexOf('@') + 1));
}

/** A domain as an admin types it (`--to @Example.org.`, `müller.example`), in the form domainOf gives. */
export const domainArg = (domain: string): string => comparableDomain(domain.replace(/^@/, ''));

/** Whether a `--to` value names one recipient (`alice@example.org`) rather than a domain (`example.org`, `@example.org`). */
export const isAddressArg = (to: string): boolean => to.lastIndexOf('@') > 0;

/**
 * Whether `address` is among the recipients a `--to` value names: that mailbox in any spelling the access lists take
 * for it (case, quotes, composed or not, either form of its domain: mailboxKey), or every address in that domain.
 */
export function inSelection(address: string, to: string): boolean {
  return isAddressArg(to) ? mailboxKey(address) === mailboxKey(to) : domainOf(address) === domainArg(to);
}

/** A `--to` value as fields of a log line: `domain` for a domain, `to` (a list, as on every line) for an address. */
export const selectionFields = (to: string): { domain: string } | { to: string[] } => (isAddressArg(to) ? { to: [to] } : { domain: to });

/**
 * Marks the recipients `to` names (a domain, or one address) deleted that are still to do: pending ones, or in
 * dead-letter the failed ones (what a requeue would send again); returns how many.
 */
export function dropRecipients(entry: QueueEntry, to: string, status: 'pending' | 'failed' = 'pending'): number {
  let n = 0;
  for (const r of entry.recipients) {
    if (r.status === status && inSelection(r.address, to)) { r.status = 'deleted'; r.reply = 'deleted by the administrator'; n++; }
  }
  return n;
}

export const hasPending = (entry: QueueEntry) => entry.recipients.some((r) => r.status === 'pending');

/**
 * Makes the failed recipients (when `to` is given, those it names: a domain's, or one address) pending again, for a
 * dead-lettered message an admin puts back in the queue; returns how many. Delivered and deleted recipients keep
 * their state, so they are not sent again. Their failure notice was sent: a new failure is reported anew, as for a
 * message Postfix's `postsuper -r` requeued.
 */
export function reviveFailed(entry: QueueEntry, to?: string): number {
  let n = 0;
  for (const r of entry.recipients) {
    if (r.status !== 'failed' || (to !== undefined && !inSelection(r.address, to))) continue;
    r.status = 'pending';
    delete r.notified;
    n++;
  }
  return n;
}

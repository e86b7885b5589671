// Which mailbox a held message belongs to. Mail to a tagged address (`ann+shop@`, Postfix's recipient_delimiter) lands
// in `ann@`'s mailbox when the user-lists plugin runs, since her sender lists are `ann@`'s (core/lists/user-lists.ts):
// so are her digest and her page of held mail, one per mailbox as in Proxmox Mail Gateway. Without that plugin no
// address is merged with another: at a site where `ann+shop@` is a mailbox of its own (Postfix's recipient_delimiter is
// empty by default), one user would read another's held mail. Every check of "is this held for the ticket's holder"
// goes through heldAddresses, so a ticket reaches the addresses of its own mailbox and no other.
import { listOwner, userListsApplied, userListsDelimiters } from '../lists/user-lists.ts';
import type { QueueEntry } from '../queue/entry.ts';

/** No tag delimiters: each address is its own mailbox. Used where no delimiters are given. */
export const DEFAULT_DELIMITERS = '';

/**
 * The tag delimiters the quarantine's digest and pages go by under `config`: the user-lists plugin's
 * `recipient_delimiter` (its default `+`) when the plugin runs, whose lists the pages edit and must key alike; none
 * otherwise.
 */
export function recipientDelimiters(config: { plugins: ReadonlyArray<{ name: string } & Record<string, unknown>> }): string {
  return userListsApplied(config) ? userListsDelimiters(config) : DEFAULT_DELIMITERS;
}

/** The mailbox of `address`: without its tag, lower case, its domain in A-label form (listOwner). */
export function mailboxOf(address: string, delimiters = DEFAULT_DELIMITERS): string {
  return listOwner(address, delimiters);
}

/**
 * The entry's recipients still held that belong to `mailbox` (a mailboxOf result), in the form each was sent to and
 * each once: what a release or delete for the mailbox acts on. Empty when nothing of the mailbox is held in it.
 */
export function heldAddresses(entry: QueueEntry, mailbox: string, delimiters = DEFAULT_DELIMITERS): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const r of entry.recipients) {
    if (r.status !== 'pending' || mailboxOf(r.address, delimiters) !== mailbox) continue;
    const key = r.address.toLowerCase();
    if (!seen.has(key)) { seen.add(key); out.push(r.address); }
  }
  return out;
}

/**
 * The addresses to show beside a message of `mailbox`: those it was sent to, when any is a tagged form (the owner
 * wants to know which of their addresses a sender used); none when it went to the mailbox's own address alone.
 */
export function sentToShown(addresses: readonly string[], mailbox: string): string[] {
  return addresses.some((a) => mailboxOf(a, '') !== mailbox) ? [...addresses] : [];
}

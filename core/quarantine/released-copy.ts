// The copy of a quarantined message that a release for one recipient queues, and how that recipient is marked done in
// the quarantined entry. Shared by the release itself (core/queue/admin-ops.ts) and by the queue's recovery, which
// finishes a release a crash cut short (core/queue/queue-store.ts).
import { formatHeader, mailDate } from '../message/header-block.ts';
import type { QueueEntry, QueueRecipient } from '../queue/entry.ts';
import { mailboxKey } from '../lists/address-matcher.ts';
import { releasedSpamFields } from '../verdict/released-fields.ts';

/** Who released or deleted a quarantined message for one recipient: said in the header and in the log. */
export type ReleasedBy = 'recipient' | 'administrator';

/** A queued copy remembers where it came from, so that recovery can finish the release (see finishReleasedCopies). */
export interface ReleasedCopy extends QueueEntry {
  releasedFrom?: { id: string; address: string };
}

// One mailbox in any spelling (case, either form of an IDN domain: `jürgen@xn--mller-kva.example` names a recipient an
// older gateway stored as `jürgen@müller.example`), as `moat queue --to` and the access lists compare it.
const sameAddress = (a: string, b: string) => mailboxKey(a) === mailboxKey(b);

/** Where `address` stands among the entry's recipients still held in the quarantine; -1 when it is not one of them. */
export function heldRecipientIndex(entry: QueueEntry, address: string): number {
  return entry.recipients.findIndex((r) => r.status === 'pending' && sameAddress(r.address, address));
}

/**
 * The copy's queue id: fixed by the message and the recipient's place in it, so a release run again after a crash
 * finds the copy it queued before, rather than queueing a second one. Longer than any id newQueueId makes (19
 * characters), so it meets no other message; it starts with the original's time, so it is delivered in its turn.
 */
export function releasedCopyId(id: string, index: number): string {
  return `${id}r${index.toString(36)}`;
}


/**
 * The stored header lines of a released message: a person judged it wanted, so the verdict's spam fields say not spam
 * (a mail server behind that files `Yes` as junk would otherwise put it back there; releasedSpamFields), and
 * `X-Mailmoat-Released` says by whom. X-Mailmoat-Verdict and the score stay: they record why it was held.
 */
export function releasedPrepend(prepend: string, releasedBy: string, now: number): string {
  return releasedSpamFields(prepend)
    + formatHeader('X-Mailmoat-Released', `from quarantine by ${releasedBy}; ${mailDate(now)}`);
}

/**
 * The message as it goes to one recipient: stored as it was (not scanned again), with the headers of a release
 * (releasedPrepend). It counts as received now: the queue's lifetime starts at the release,
 * else a message kept longer than the lifetime in the quarantine would expire at its first deferral.
 */
export function releasedCopy(entry: QueueEntry, index: number, by: ReleasedBy, now = Date.now()): ReleasedCopy {
  const r = entry.recipients[index];
  const recipient: QueueRecipient = { address: r.address, status: 'pending', ...(r.notify ? { notify: r.notify } : {}), ...(r.orcpt ? { orcpt: r.orcpt } : {}) };
  const who = by === 'recipient' ? `the recipient <${r.address}>` : `the administrator for <${r.address}>`;
  const copy: ReleasedCopy = {
    ...structuredClone(entry),
    id: releasedCopyId(entry.id, index),
    recipients: [recipient],
    prepend: releasedPrepend(entry.prepend, who, now),
    receivedAt: now, attempts: 0, nextAttemptAt: now, held: false,
    history: [{ at: now, result: `released from quarantine (message ${entry.id}, received ${new Date(entry.receivedAt).toISOString()}) by ${who}` }],
    releasedFrom: { id: entry.id, address: r.address },
  };
  delete copy.lastReply;
  delete copy.delayNotices;
  return copy;
}

/**
 * Marks the recipient at `index` done in the quarantined entry: released (no longer pending, so a later release of the
 * whole message does not send it again; not `delivered`, since its copy may yet fail, and says so in its own entry)
 * or deleted. No history line: a message's time in the quarantine counts from its last history line (its expiry, and
 * what the next digest lists), which this must not move.
 */
export function markRecipientDone(entry: QueueEntry, index: number, how: { released: string } | { deletedBy: ReleasedBy }): void {
  const r = entry.recipients[index];
  if ('released' in how) { r.status = 'released'; r.reply = `copy queued as ${how.released}`; }
  else { r.status = 'deleted'; r.reply = `deleted from quarantine by the ${how.deletedBy}`; }
}

export const anyHeld = (entry: QueueEntry) => entry.recipients.some((r) => r.status === 'pending');

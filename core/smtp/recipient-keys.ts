// The keys of the one-recipient-once rule (mailboxKey: one key for every spelling of a mailbox), kept per transaction
// for the recipients it holds: each RCPT is compared with every recipient before it, and computing their keys anew
// each time cost a 1,000-recipient message half a million of them, three times what comparing in lower case did.
import { mailboxKey } from '../lists/address-matcher.ts';

/** Per transaction (a Transaction object, dropped with it): each address it holds, with its key. */
const keysOf = new WeakMap<object, Map<string, string>>();

/**
 * Whether one of `addresses` (recipients of transaction `tx`) is the mailbox `key` names. Only addresses the
 * transaction holds are remembered, so a client naming one address in ever new spellings adds nothing.
 */
export function holdsMailbox(tx: object, addresses: readonly string[], key: string): boolean {
  let keys = keysOf.get(tx);
  if (!keys) keysOf.set(tx, (keys = new Map()));
  for (const a of addresses) {
    let k = keys.get(a);
    if (k === undefined) { k = mailboxKey(a); keys.set(a, k); }
    if (k === key) return true;
  }
  return false;
}

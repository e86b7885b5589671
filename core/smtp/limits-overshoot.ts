// limits.max_recipient_overshoot: how many `452 4.5.3` (too many recipients) one connection gets before each further
// one counts toward limits.max_errors, as Postfix's smtpd_recipient_overshoot_limit. The 452 asks the client to send
// those recipients again in a new transaction, so it is not the client's error; but a client that goes on naming
// recipients past the limit by the thousand is not doing that, and without this it was never disconnected.

import { isTooManyRecipients } from './limits-errors.ts';

/** Per session (its SessionState, dropped with it): the 452 4.5.3 refusals it has had. */
const overshoots = new WeakMap<object, number>();

/**
 * Counts a refusal of session `st` when it is a 452 4.5.3, and says whether it is one past `limit` in the session,
 * which then counts toward limits.max_errors. Kept for the whole session, as Postfix keeps it: a client that starts
 * a new transaction for each thousand recipients it overshoots by is still not doing as the 452 asks.
 */
export function overshootCounts(st: object, code: number, text: string | readonly string[] | undefined, limit: number): boolean {
  if (!isTooManyRecipients(code, text)) return false;
  const n = (overshoots.get(st) ?? 0) + 1;
  overshoots.set(st, n);
  return n > limit;
}

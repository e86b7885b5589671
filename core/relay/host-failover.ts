// A destination's hosts tried in turn within one attempt (MX hosts, or a route's list of smarthosts), as Postfix does.
import type { RecipientResult } from './types.ts';

/** One host of a destination. */
export interface Hop {
  /** Put before a reply that came from no server (`mx1.example[192.0.2.1]: cannot connect…`); none when the reply names the host. */
  label?: string;
  send(recipients: string[]): Promise<RecipientResult[]>;
}

/** What a stop leaves of a recipient no host was tried for. */
const notStarted = (address: string): RecipientResult => ({ address, ok: false, permanent: false, reply: 'not started: the gateway is stopping', notAttempted: true });

/**
 * A result a host that is not the last leaves for the next one: not taken and not refused for good. Never one lost
 * after the final dot: that host may have taken the message, and a next host in the same attempt would deliver it a
 * second time within seconds; the queue's next retry is the place for it (Postfix does not fail over after the dot).
 */
const leftForNext = (r: RecipientResult) => !r.ok && !r.permanent && !r.notAttempted && !r.afterEndOfData;

/**
 * Sends to `hops` in order. A recipient a host did not take and did not refuse for good (no answer at all, or a 4xx
 * to MAIL FROM, RCPT TO or the data) goes to the next host in the same attempt, as Postfix's smtp client keeps such a
 * recipient for the next server unless this one is the last; one delivered or refused for good stays as it is, and so
 * does one whose connection was lost after the final dot (left for the queue's retry).
 *
 * When no host took a recipient, its result is the last server's own reply if one gave any (a 451 from the first MX
 * host says more than a refused connection at the second, and shows the destination up), else the last failure to
 * reach a server. No results when `hops` had no host, for the caller to say why.
 */
export async function sendInTurn(hops: AsyncIterable<Hop> | Iterable<Hop>, recipients: string[], stopping: () => boolean): Promise<RecipientResult[]> {
  const best = new Map<string, RecipientResult>();
  let left = recipients;
  let tried = 0;
  for await (const hop of hops) {
    if (left.length === 0) break;
    // Checked before each host: the lookups before it may have taken a while, and its pool may be new.
    if (stopping()) {
      if (tried === 0) return recipients.map(notStarted);
      break;
    }
    tried++;
    const round = await hop.send(left);
    for (const r of round) {
      const shown = r.hostFailure && hop.label ? { ...r, reply: `${hop.label}: ${r.reply}` } : r;
      const before = best.get(r.address);
      // A server's own answer from an earlier host outranks a later host that could not be reached.
      if (before && leftForNext(shown) && shown.hostFailure && !before.hostFailure) continue;
      // A host that is the gateway itself ends the turn, but a better host's failure for now stays the reason: the
      // mail waits for that host, as Postfix never delivers to a host past itself. Only with none before is it a loop.
      if (before && shown.loopsBack) continue;
      best.set(r.address, shown);
    }
    left = round.filter(leftForNext).map((r) => r.address);
  }
  return tried ? recipients.map((a) => best.get(a)!) : [];
}

// What a message's recipients' lists say about its sender and author: who blocks it, who allows it, and why.
import { matchingEntry, type ListKind } from '../../core/lists/user-lists.ts';
import { envelopeAuthenticated, fromAuthenticated, type AuthFacts } from './auth.ts';

export type Lists = Record<ListKind, string[]>;

/** One recipient's match: the entry, the address it covered, and whether that was the envelope sender or From. */
export interface Match { rcpt: string; entry: string; address: string; via: 'envelope' | 'from' }

export interface AllowMatch extends Match { auth?: string }

export interface Decision {
  blocked: Match[];
  /** For every recipient not blocked: its allow match that counts, if any. */
  allowed: AllowMatch[];
  /** Allow entries that matched but did not count, for want of authentication. */
  unauthenticated: Match[];
  /** Recipients not blocked. */
  remaining: string[];
}

export interface Letter {
  /** The envelope sender, '' for the null sender. */
  sender: string;
  senderDomain: string;
  /** The addresses of the From fields. */
  froms: string[];
}

/**
 * A block entry covering the sender or an author applies unless the same address is on that recipient's allow list
 * too: an allow entry is the user's exception to a wider block (`@example.org` blocked, `boss@example.org` allowed).
 */
export function blockMatch(rcpt: string, lists: Lists, addresses: Array<[string, Match['via']]>): Match | undefined {
  for (const [address, via] of addresses) {
    const entry = matchingEntry(lists.block, address);
    if (entry && !matchingEntry(lists.allow, address)) return { rcpt, entry, address, via };
  }
  return undefined;
}

export function decide(recipients: ReadonlyArray<{ rcpt: string; lists: Lists }>, letter: Letter, facts: AuthFacts, needsAuth: boolean): Decision {
  const envelope: Array<[string, Match['via']]> = letter.sender ? [[letter.sender, 'envelope']] : [];
  const authors: Array<[string, Match['via']]> = letter.froms.map((f) => [f, 'from']);
  // Several authors cannot all be vouched for by one DMARC result: an allow needs a single From address.
  const allowable = letter.froms.length === 1 ? [...envelope, ...authors] : envelope;
  const d: Decision = { blocked: [], allowed: [], unauthenticated: [], remaining: [] };
  for (const { rcpt, lists } of recipients) {
    const blocked = blockMatch(rcpt, lists, [...envelope, ...authors]);
    if (blocked) { d.blocked.push(blocked); continue; }
    d.remaining.push(rcpt);
    for (const [address, via] of allowable) {
      const entry = matchingEntry(lists.allow, address);
      if (!entry) continue;
      const auth = !needsAuth ? undefined
        : via === 'envelope' ? envelopeAuthenticated(facts, letter.senderDomain) : fromAuthenticated(facts, address.slice(address.lastIndexOf('@') + 1));
      if (needsAuth && !auth) { d.unauthenticated.push({ rcpt, entry, address, via }); continue; }
      d.allowed.push({ rcpt, entry, address, via, auth });
      break;
    }
  }
  return d;
}

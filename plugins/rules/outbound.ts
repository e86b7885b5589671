// The `outbound` criterion: a user's mail leaving for the world, decided as the core decides it for
// headers.outbound_without_verdict (core/verdict/outbound-fields.ts), so that the rules and the core agree on which
// mail is outgoing and the local domains are one list, the gateway's `domains`.
import { leavesWithoutOwnFields, OUTBOUND_SENDERS } from '../../core/verdict/outbound-fields.ts';
import { toAddress } from '../../core/smtp/address-policy.ts';
import type { Facts } from './facts.ts';

/**
 * True when the client may relay (it logged in, or is in relay.networks) and some recipient left is outside the local
 * domains. The sender half keeps out inbound mail an alias forwards to an outside address: that is not our users'
 * mail. Read on the recipients the rules still judge, so a spam trap a rule dropped no longer counts.
 */
export function isOutbound(f: Facts): boolean {
  // The core asks only whether there is a login, never whose: the rules' facts keep no user name.
  const client = { user: f.authenticated ? 'logged-in' : undefined, relayNetwork: f.relayNetwork };
  const to = f.recipients.map((r) => toAddress(r, false));
  return leavesWithoutOwnFields(client, to, OUTBOUND_SENDERS, f.isLocalDomain);
}

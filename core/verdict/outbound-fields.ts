// Whether a message leaves without the gateway's own X-Mailmoat-* fields (headers.outbound_without_verdict): on a
// user's mail to the world they name the filter's thresholds and plugins, and no server of ours reads them there.

/** The clients `headers.outbound_without_verdict` may name. */
export const OUTBOUND_SENDERS = ['authenticated', 'relay_networks'] as const;
export type OutboundSender = typeof OUTBOUND_SENDERS[number];

/** The gateway's namespace: the verdict's fields and those plugins add there (X-Mailmoat-Bayes, X-Mailmoat-Virus). */
const OWN_FIELD = /^x-mailmoat-/i;

/** The client of a message as this rule sees it: its login, and whether it is in relay.networks. */
export interface OutboundClient { user?: string; relayNetwork: boolean }

/**
 * True when the client is one `skipFor` names and some address the message goes to is outside the local domains.
 * One copy is queued for all of a message's recipients, so a message to a colleague and to someone outside goes
 * without the fields to both: the outside recipient must not see them, and a user's own mail needs no spam mark for
 * the colleague's server to file it by. Mail to local domains only keeps them, as inbound mail does.
 */
export function leavesWithoutOwnFields(
  client: OutboundClient, deliveredTo: ReadonlyArray<{ domain: string }>, skipFor: readonly OutboundSender[], isLocal: (domain: string) => boolean,
): boolean {
  return isOutboundSender(client, skipFor) && deliveredTo.some((a) => !isLocal(a.domain));
}

/** Whether `senders` names the client: its login for `authenticated`, its address in relay.networks for `relay_networks`. */
export function isOutboundSender(client: OutboundClient, senders: readonly OutboundSender[]): boolean {
  return (!!client.user && senders.includes('authenticated')) || (client.relayNetwork && senders.includes('relay_networks'));
}

/** `fields` without those in the gateway's namespace; every other field a plugin asked for stays. */
export function withoutOwnFields<F extends readonly [string, string]>(fields: readonly F[]): F[] {
  return fields.filter(([name]) => !OWN_FIELD.test(name));
}

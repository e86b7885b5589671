// Whether a message accepted now is to leave with our DKIM signature, and of which domain: decided at acceptance,
// where the client is known, and kept with the queue entry for the relay that signs it (README.md here).
import type { GatewayConfig } from '../config/gateway-schema.ts';
import type { HeaderList } from '../message/types.ts';
import { fromAddress } from '../quarantine/summary.ts';
import { isOutboundSender, type OutboundClient } from '../verdict/outbound-fields.ts';
import { selectorOf, signingDomainOf } from './keyring.ts';

export interface DkimPlan { domain: string; selector: string }

/** The header fields of the message as it leaves: the client's, less those removed, then those added. */
export interface LeavingHeader {
  headers: HeaderList;
  added: ReadonlyArray<readonly [string, string]>;
  /** Lower-case names of the client's fields that do not leave. */
  remove: ReadonlySet<string>;
}

function leavingValues(h: LeavingHeader, name: string): string[] {
  const lower = name.toLowerCase();
  const kept = h.remove.has(lower) ? [] : h.headers.all(name);
  return [...kept, ...h.added.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v)];
}

/**
 * The signature the message is to get: for a client `dkim.sign_for` names, whose one From author is at a signing
 * domain (or below one, with `subdomains`). A signature of ours it carries already does not spare it a new one: that
 * one may no longer verify (a Subject tag added since), or be one the client made up (README.md here).
 */
export function dkimPlan(cfg: GatewayConfig['dkim'] | undefined, client: OutboundClient, header: LeavingHeader): DkimPlan | undefined {
  if (!cfg || !isOutboundSender(client, cfg.sign_for)) return undefined;
  const from = leavingValues(header, 'From');
  // RFC 5322 allows one From field; a message with several is not one to vouch for.
  const author = from.length === 1 ? fromAddress(from[0]) : undefined;
  if (!author) return undefined;
  const domain = signingDomainOf(cfg, author.slice(author.lastIndexOf('@') + 1));
  if (!domain) return undefined;
  return { domain, selector: selectorOf(cfg, domain)! };
}

// Whether a message accepted now is to leave with our DKIM signature, and of which domain: decided at acceptance,
// where the client is known, and kept with the queue entry for the relay that signs it (README.md here).
import type { GatewayConfig } from '../config/gateway-schema.ts';
import type { HeaderList } from '../message/types.ts';
import { fromAddress } from '../quarantine/summary.ts';
import { isOutboundSender, type OutboundClient } from '../verdict/outbound-fields.ts';
import { selectorOf, signingDomainOf, signingName } from './keyring.ts';

export interface DkimPlan { domain: string; selector: string }
/** Why a client `dkim.sign_for` names has its message leave unsigned: logged on the message's line. */
export interface DkimRefusal { unsigned: string }

/** The client as signing sees it: who it is, the envelope sender it gave, and what its login may send as. */
export interface DkimSender extends OutboundClient {
  /** MAIL FROM's address; '' for the null sender. */
  mailFrom: string;
  /** Why the client may not use `address` as its sender under auth.sender_logins (core/smtp/sender-login.ts), or undefined. */
  loginMismatch(address: string): string | undefined;
}

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

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1);

/**
 * Whether the envelope sender's domain goes with the header From's, as Rspamd's dkim_signing requires by default (it
 * compares organisational domains): the same domain, or one at or under the signing domain, as a bounce or VERP
 * domain is (bounces.example.org for a From at example.org). `subdomains` decides only which From domains sign. The
 * null sender names no domain to differ from; bounces and auto-replies use it.
 */
function envelopeMatches(cfg: GatewayConfig['dkim'], mailFrom: string, fromDomain: string, signing: string): boolean {
  if (!mailFrom || cfg.allow_header_from_mismatch) return true;
  const envelope = signingName(domainOf(mailFrom));
  if (envelope === signingName(fromDomain)) return true;
  const root = signingName(signing);
  return envelope === root || envelope.endsWith(`.${root}`);
}

/**
 * The signature the message is to get: for a client `dkim.sign_for` names, whose one From author is at a signing
 * domain (or below one, with `subdomains`), that goes with its envelope sender, and that its login may send as.
 * Else why not, or undefined when nothing is signed anyway (no signing domains, a client not named). A signature of
 * ours it carries already does not spare it a new one: that one may no longer verify (a Subject tag added since), or
 * be one the client made up (README.md here).
 */
export function dkimPlan(cfg: GatewayConfig['dkim'] | undefined, client: DkimSender, header: LeavingHeader): DkimPlan | DkimRefusal | undefined {
  if (!cfg || !Object.keys(cfg.domains).length || !isOutboundSender(client, cfg.sign_for)) return undefined;
  const from = leavingValues(header, 'From');
  // RFC 5322 allows one From field; a message with several is not one to vouch for.
  if (from.length !== 1) return { unsigned: `${from.length} From fields` };
  const author = fromAddress(from[0]);
  if (!author) return { unsigned: 'no single From address' };
  const fromDomain = domainOf(author);
  const domain = signingDomainOf(cfg, fromDomain);
  if (!domain) return { unsigned: `From domain ${fromDomain} is not a signing domain` };
  // Else a user of one signing domain, or any host in relay.networks, gets its mail signed as another's, and it
  // passes DMARC as that domain.
  if (!envelopeMatches(cfg, client.mailFrom, fromDomain, domain)) {
    return { unsigned: `From domain ${fromDomain} differs from the envelope sender's (dkim.allow_header_from_mismatch is off)` };
  }
  const mismatch = client.loginMismatch(author);
  if (mismatch) return { unsigned: `From ${author} is not the login's to use (auth.sender_logins)` };
  return { domain, selector: selectorOf(cfg, domain)! };
}

/** Whether `plan` is a signature to make. */
export const signs = (plan: DkimPlan | DkimRefusal | undefined): plan is DkimPlan => !!plan && 'domain' in plan;

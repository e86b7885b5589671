// The access rules on the envelope's addresses, as Postfix's reject_non_fqdn_sender / _recipient, check_sender_access
// and relay_recipient_maps answer them: each gives the refusal, with the setting behind it for the log, or nothing.
import type { Address } from '../hooks/context.ts';
import type { Runtime } from '../runtime.ts';

/** A refusal of the access rules; `reason` names the setting that made it, for the log line. */
export interface AccessRefusal { code: number; enhanced: string; text: string; reason: string }

/**
 * Whether an address lacks a fully-qualified domain: none at all, or one without a dot. An address literal
 * (`[192.0.2.1]`) is qualified, and so is a local domain, which the admin chose (`localhost` in the embedded config).
 */
function notFullyQualified(address: string, isLocal: (domain: string) => boolean): boolean {
  const at = address.lastIndexOf('@');
  if (at < 0) return true;
  const domain = address.slice(at + 1).toLowerCase().replace(/\.$/, '');
  return !domain.startsWith('[') && !domain.includes('.') && !isLocal(domain);
}

/** access.require_fqdn_addresses, then access.blocked_senders, for MAIL FROM's address; the null sender passes. */
export function senderRefusal(rt: Runtime, address: string): AccessRefusal | undefined {
  if (!address) return undefined;
  const { access } = rt.config;
  const isLocal = (d: string) => rt.policy.localDomains.has(d);
  if (access.require_fqdn_addresses && notFullyQualified(address, isLocal)) {
    return { code: 504, enhanced: '5.5.2', text: `<${address}>: Sender address rejected: need fully-qualified address`, reason: 'access.require_fqdn_addresses' };
  }
  if (rt.policy.blockedSenders(address)) {
    return { code: 550, enhanced: '5.7.1', text: `<${address}>: Sender address rejected: Access denied`, reason: 'access.blocked_senders' };
  }
  return undefined;
}

/** The refusal access.blocked_recipients gives, for a client's recipient and for a redirect's last target alike. */
export function blockedRecipientRefusal(address: string): AccessRefusal {
  return { code: 550, enhanced: '5.7.1', text: `<${address}>: Recipient address rejected: Access denied`, reason: 'access.blocked_recipients' };
}

/**
 * access.require_fqdn_addresses, access.blocked_recipients, then access.recipients_file (for a local domain's
 * recipient only: the table lists the server behind's mailboxes, not those of domains a trusted client relays to).
 */
export function recipientRefusal(rt: Runtime, rcpt: Address): AccessRefusal | undefined {
  const { policy } = rt;
  const isLocal = (d: string) => policy.localDomains.has(d);
  if (rt.config.access.require_fqdn_addresses && notFullyQualified(rcpt.address, isLocal)) {
    return { code: 504, enhanced: '5.5.2', text: `<${rcpt.address}>: Recipient address rejected: need fully-qualified address`, reason: 'access.require_fqdn_addresses' };
  }
  if (policy.blockedRecipients(rcpt.address)) return blockedRecipientRefusal(rcpt.address);
  if (policy.knownRecipient && isLocal(rcpt.domain) && !policy.knownRecipient(rcpt.address)) {
    return { code: 550, enhanced: '5.1.1', text: `<${rcpt.address}>: Recipient address rejected: User unknown in relay recipient table`, reason: 'access.recipients_file' };
  }
  return undefined;
}

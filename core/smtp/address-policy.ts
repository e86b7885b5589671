// Address forms an open relay can be tricked with, refused before any plugin runs.
import net from 'node:net';
import type { Address } from '../hooks/context.ts';

/**
 * Splits an SMTP path into a lower-cased local part and domain. The domain is composed (NFC), as UTS 46 reads it: a
 * client may write `mu\u0308ller.example` for `müller.example`, and the relay rule and every domain list must know it.
 */
export function toAddress(raw: string, params: Record<string, string | true> | false): Address {
  const at = raw.lastIndexOf('@');
  return {
    address: raw,
    local: at > 0 ? raw.slice(0, at).toLowerCase() : raw.toLowerCase(),
    domain: at > 0 ? raw.slice(at + 1).toLowerCase().normalize('NFC').replace(/\.$/, '') : '',
    params: params || {},
  };
}

/** A local part that is one quoted string, whole: `"…"` with every `"` or `\\` inside it escaped. */
const QUOTED_STRING = /^"(?:[^"\\]|\\.)*"$/;

/**
 * Why a recipient's form is refused, or undefined when it is an ordinary address.
 * Percent hacks, bang paths and source routes let a local domain forward to a foreign one; IP literals name hosts, not
 * domains. A client's source route never gets here: smtp-server drops it first, as RFC 5321 §4.1.2 and appendix C ask
 * (`<@a.example:u@example.com>` is `u@example.com`); a plugin's address (core/hooks/runner.ts) keeps its own.
 * An IP literal passes only when `isLocal` says it is ours; `domains` holds names only, so for a client's recipient
 * none does, the gateway's own addresses included: they are no domain the server behind takes mail for. (Postmaster at
 * one of the gateway's own literals never gets here as such: it is the first domain's postmaster, address-literal.ts.)
 */
export function forbiddenRecipientForm(raw: string, isLocal: (domain: string) => boolean): string | undefined {
  if (raw.startsWith('@') || /^@[^:]+:/.test(raw)) return 'source routes are not accepted';
  const at = raw.lastIndexOf('@');
  if (at <= 0) return 'a recipient needs a domain';
  const local = raw.slice(0, at);
  const domain = raw.slice(at + 1);
  if (local.includes('%')) return 'percent-hack addresses are not accepted';
  if (local.includes('!')) return 'bang-path addresses are not accepted';
  // An `@` inside a quoted local part (`"u@evil.test"@example.com`, RFC 5321's Quoted-string) is part of the mailbox
  // name: the domain judged is the one after it. One outside quotes would make another domain the real destination.
  if (local.includes('@') && !QUOTED_STRING.test(local)) return 'addresses with more than one @ are not accepted';
  if (domain.startsWith('[')) {
    const ip = domain.slice(1, -1).replace(/^IPv6:/i, '');
    if (!net.isIP(ip) || !isLocal(domain.toLowerCase())) return 'IP-literal recipients are not accepted';
  }
  return undefined;
}

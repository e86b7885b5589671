// Who is never greylisted: listed IPs and networks, recipient and sender domains, and findings of earlier checks.
import { CidrList, type Finding, type SessionView } from '../../core/index.ts';
import { isBroadSpfPass } from '../spf/broad.ts';
import { comparableAddress, comparableDomain } from '../../core/text/idn-address.ts';
import type { GreylistConfig } from './config.ts';

// Entries and the names they are matched against are compared in one form, lower-case A-labels (comparableDomain):
// an entry `müller.example` covers mail to `info@xn--mller-kva.example`, and `xn--mller-kva.example` mail to
// `info@müller.example`, which an SMTPUTF8 client may write either way.

/** `example.org` matches that domain; `.example.org` matches its subdomains. */
export function domainList(entries: readonly string[]): (domain: string) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const e of entries) {
    const d = e.trim();
    if (d.startsWith('.')) suffixes.push(`.${comparableDomain(d.slice(1))}`);
    else if (d) exact.add(comparableDomain(d));
  }
  return (domain) => {
    const d = comparableDomain(domain);
    return exact.has(d) || suffixes.some((s) => d.endsWith(s));
  };
}

/** `postmaster@example.org` matches that address, `postmaster@` that local part at every domain; case is ignored. */
export function recipientList(entries: readonly string[]): (address: string) => boolean {
  const addresses = new Set<string>();
  const locals = new Set<string>();
  for (const e of entries) {
    const a = e.trim().toLowerCase();
    if (a.endsWith('@')) locals.add(a.slice(0, -1));
    else if (a) addresses.add(comparableAddress(a));
  }
  return (address) => {
    const a = comparableAddress(address.toLowerCase());
    return addresses.has(a) || locals.has(a.slice(0, a.lastIndexOf('@')));
  };
}

/** Symbol patterns: exact names, or a prefix when the pattern ends in `*`. */
export function symbolMatcher(patterns: readonly string[]): (findings: readonly Finding[]) => Finding | undefined {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  return (findings) => findings.find((f) => exact.has(f.symbol) || prefixes.some((p) => f.symbol.startsWith(p)));
}

export interface Subject {
  session: SessionView;
  senderDomain: string;
  /** The recipient's address and domain. */
  rcpt: string;
  rcptDomain: string;
  findings: readonly Finding[];
}

/** Compiles the exemptions of `cfg` into one check that names the reason, or returns undefined. */
export function compileExemptions(cfg: GreylistConfig): (s: Subject) => string | undefined {
  const ips = new CidrList(cfg.skip_ips);
  const rcpts = recipientList(cfg.skip_recipients);
  const rcptDomains = domainList(cfg.skip_recipient_domains);
  const senderDomains = domainList(cfg.skip_sender_domains);
  const spfPass = symbolMatcher(cfg.spf_pass_symbols);
  const allowlisted = symbolMatcher(cfg.allowlist_symbols);
  return ({ session, senderDomain, rcpt, rcptDomain, findings }) => {
    if (cfg.skip_trusted && session.trusted) return session.user ? 'authenticated' : 'relay network';
    if (session.allowlisted) return 'access allowlist';
    if (ips.has(session.remote.ip)) return 'skip_ips';
    if (rcpt && rcpts(rcpt)) return 'recipient';
    if (rcptDomain && rcptDomains(rcptDomain)) return 'recipient domain';
    if (senderDomain && senderDomains(senderDomain)) return 'sender domain';
    if (cfg.skip_spf_pass && senderDomain) {
      const f = spfPass(findings.filter((x) => !isBroadSpfPass(x)));
      if (f) return `SPF pass (${f.symbol})`;
    }
    const dnswl = allowlisted(findings);
    if (dnswl) return `DNS allowlist (${dnswl.symbol})`;
    return undefined;
  };
}

// Address lists matched the way the mail server behind the gateway delivers: by mailbox, not by spelling. Used by the
// access lists (core/runtime.ts), the recipients file and the bayes plugin's honeypots, so none can be slipped past
// with `"user"@`, `USER@`, `user+tag@`, a trailing dot or a decomposed `jo\u0308rg@` that the others would catch; and
// by the front door's one-recipient-once rule and `moat queue`'s selectors, which must agree with them.
import { comparableDomain } from '../text/idn-address.ts';

export interface Mailbox { local: string; domain: string }

/** `"a\"b"` is the mailbox `a"b`: RFC 5321 makes a quoted string and its unquoted content one local part. */
function unquoted(local: string): string {
  if (local.length < 2 || !local.startsWith('"') || !local.endsWith('"')) return local;
  return local.slice(1, -1).replace(/\\(.)/g, '$1');
}

/**
 * A local part as every spelling of it is compared: unquoted, lower-cased and composed (NFC), as the user-lists
 * plugin keys it (core/lists/user-lists.ts). `jo\u0308rg`, o and a combining diaeresis, shows as `jörg` and is that
 * mailbox to a reader; left apart, it passed a block of `jörg@` while the recipients file refused it as unknown.
 */
function comparableLocal(local: string): string {
  return unquoted(local).toLowerCase().normalize('NFC');
}

/**
 * An address in the one form every spelling of its mailbox shares: the local part as comparableLocal gives it, the
 * domain in lower-case A-labels without a trailing dot. An address without `@` is all local part, with no domain.
 */
export function mailboxOf(address: string): Mailbox {
  const a = address.trim();
  const at = a.lastIndexOf('@');
  if (at < 0) return { local: comparableLocal(a), domain: '' };
  return { local: comparableLocal(a.slice(0, at)), domain: comparableDomain(a.slice(at + 1)) };
}

/** mailboxOf as one string: two addresses with the same key name one mailbox (`Jörg@MÜLLER.example.`, `jo\u0308rg@xn--mller-kva.example`). */
export function mailboxKey(address: string): string {
  const m = mailboxOf(address);
  return `${m.local}@${m.domain}`;
}

/**
 * The local part without its tag: cut at the first of `delimiters` (Postfix's recipient_delimiter: each character is
 * one), unless that is the first character, which leaves no mailbox name. No delimiters, no cut.
 */
export function withoutTag(local: string, delimiters: string): string {
  let cut = local.length;
  for (const d of delimiters) {
    const i = local.indexOf(d);
    if (i > 0 && i < cut) cut = i;
  }
  return local.slice(0, cut);
}

/** An entry's key: `@domain`, or the mailbox as every spelling of it is compared (case, quotes, IDN form). */
export function entryKey(entry: string): string {
  const m = mailboxOf(entry);
  return entry.trim().startsWith('@') ? `@${m.domain}` : mailboxKey(entry);
}

/**
 * Whether an address is in `list`: entries are `user@domain` (that mailbox, and its tagged addresses) or `@domain`
 * (every address of the domain). An entry that names a tag itself (`list+bayes@`) matches that tag only. Entries are
 * compiled once; each call is a few set lookups.
 */
export function addressMatcher(list: readonly string[], delimiters = '+'): (address: string) => boolean {
  const mailboxes = new Set<string>();
  const domains = new Set<string>();
  for (const entry of list) {
    const e = entry.trim();
    if (!e) continue;
    const key = entryKey(e);
    if (e.startsWith('@')) domains.add(key.slice(1));
    else mailboxes.add(key);
  }
  // Most lists are empty: no address need be taken apart for them, on every RCPT.
  if (mailboxes.size === 0 && domains.size === 0) return () => false;
  return (address) => {
    const m = mailboxOf(address);
    if (domains.has(m.domain) || mailboxes.has(`${m.local}@${m.domain}`)) return true;
    const bare = withoutTag(m.local, delimiters);
    return bare !== m.local && mailboxes.has(`${bare}@${m.domain}`);
  };
}

// Whether an entry of an address list (access.blocked_*, a recipients file line) can match anything: one that cannot
// would be a block, or a mailbox, that silently does nothing.
import { aLabelHostName } from '../text/idn-address.ts';

/** An address literal, as a domain: `[192.0.2.1]`, `[IPv6:2001:db8::1]`. */
const LITERAL = /^\[[^\s[\]]+\]$/;

/** Why `entry` matches no address (a phrase to follow the entry), or undefined for `user@domain` and `@domain`. */
export function addressEntryProblem(entry: string): string | undefined {
  const e = entry.trim();
  if (!e) return 'is empty';
  const at = e.lastIndexOf('@');
  if (at < 0) return `has no @: write user@${e} for one address, or @${e} for every address of that domain`;
  const domain = e.slice(at + 1);
  if (!domain) return 'has no domain after the @';
  if (!LITERAL.test(domain) && !aLabelHostName(domain.replace(/\.$/, ''))) return `has ${JSON.stringify(domain)} after the @, which is not a domain name`;
  const local = e.slice(0, at);
  // Whitespace belongs in a quoted local part only; elsewhere it is two entries run together.
  if (/\s/.test(local) && !/^".*"$/.test(local)) return 'has a space in it: one address per entry';
  return undefined;
}

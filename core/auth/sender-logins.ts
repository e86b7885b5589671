// auth.sender_logins: which logins own which sender addresses, as Postfix's smtpd_sender_login_maps. Read from a file
// at start and at each reload; the check that uses it is core/smtp/sender-login.ts.
import { addressEntryProblem } from '../lists/address-entry.ts';
import { entryKey, mailboxOf, withoutTag } from '../lists/address-matcher.ts';
import { listFileProblem, readListFile } from '../lists/list-file.ts';

/** Logins are separated by commas, spaces or both (`alice,bob`, `alice, bob`), as in Postfix's map values. */
const LOGIN_SEPARATOR = /[\s,]+/;

export interface SenderLoginEntry { address: string; logins: string[] }

/** The owners of sender addresses; the most specific entry for an address decides, as Postfix looks them up. */
export interface SenderLogins {
  /** The logins that own `address`: its mailbox's entry, else its untagged mailbox's, else its domain's; undefined when none names it. */
  ownersOf(address: string): readonly string[] | undefined;
}

/**
 * The entries of a sender-logins file: per line an address or `@domain`, then the logins that own it; blank lines
 * and lines whose first character other than a space is `#` are skipped. Problems name the line.
 */
export function senderLoginEntries(text: string): { entries: SenderLoginEntry[]; problems: string[] } {
  const entries: SenderLoginEntry[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((line, i) => {
    const [address, ...rest] = line.trim().split(/\s+/);
    if (!address || address.startsWith('#')) return;
    const at = `line ${i + 1}: ${JSON.stringify(address)}`;
    const problem = addressEntryProblem(address);
    if (problem) { problems.push(`${at} ${problem}`); return; }
    const logins = rest.join(' ').split(LOGIN_SEPARATOR).filter((l) => l !== '');
    if (!logins.length) { problems.push(`${at} names no login: write the logins that may send as it after it (alice or alice,bob)`); return; }
    // A user name of the users file has no colon (core/auth/users-file.ts): such a login could never log in.
    const bad = logins.find((l) => l.includes(':'));
    if (bad) { problems.push(`${at}: ${JSON.stringify(bad)} is no user name (a user name has no colon)`); return; }
    // Two lines for one address would leave one of them unused, and which one would be a guess.
    const key = entryKey(address);
    const first = seen.get(key);
    if (first !== undefined) { problems.push(`${at} is listed on line ${first} already: give all of its logins on one line`); return; }
    seen.set(key, i + 1);
    entries.push({ address, logins });
  });
  return { entries, problems };
}

/** `delimiters`: access.recipient_delimiter, so `alice+news@` is alice's as the address lists take it. */
export function senderLogins(entries: readonly SenderLoginEntry[], delimiters: string): SenderLogins {
  const owners = new Map<string, readonly string[]>(entries.map((e) => [entryKey(e.address), e.logins]));
  return {
    ownersOf(address) {
      const m = mailboxOf(address);
      const exact = owners.get(`${m.local}@${m.domain}`);
      if (exact) return exact;
      const bare = withoutTag(m.local, delimiters);
      return (bare !== m.local ? owners.get(`${bare}@${m.domain}`) : undefined) ?? owners.get(`@${m.domain}`);
    },
  };
}

// A file emptied by a half-done edit would have every logged-in sender refused, permanently (553).
const EMPTY_MEANS = 'no login would own any sender address';

/** The file's entries, or an Error that says what is wrong with it (its path, the lines). */
function readEntries(file: string): SenderLoginEntry[] {
  return readListFile(file, senderLoginEntries, EMPTY_MEANS);
}

/** Why the file cannot serve as auth.sender_logins, or undefined when it can (check-config, start, reload). */
export function senderLoginsProblem(file: string): string | undefined {
  return listFileProblem(file, senderLoginEntries, EMPTY_MEANS);
}

/** The map read from `file`; throws as senderLoginsProblem explains. */
export function loadSenderLogins(file: string, delimiters: string): SenderLogins {
  return senderLogins(readEntries(file), delimiters);
}

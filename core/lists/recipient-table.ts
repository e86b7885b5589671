// access.recipients_file: the addresses the mail server behind the gateway has, as Postfix's relay_recipient_maps, so
// that mail for a mailbox nobody has is refused at RCPT rather than accepted and bounced later to a forged sender.
import { addressEntryProblem } from './address-entry.ts';
import { addressMatcher } from './address-matcher.ts';
import { listFileProblem, readListFile } from './list-file.ts';

/**
 * The entries of a recipients file: one per line, the first word of the line (so Postfix's `user@example.com OK`
 * source lines serve as they are), lines whose first character other than a space is `#` being comments.
 */
function recipientEntries(text: string): { entries: string[]; problems: string[] } {
  const entries: string[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const word = line.trim().split(/\s+/)[0];
    if (!word || word.startsWith('#')) return;
    const problem = addressEntryProblem(word);
    if (problem) problems.push(`line ${i + 1}: ${JSON.stringify(word)} ${problem}`);
    else entries.push(word);
  });
  return { entries, problems };
}

// An emptied or truncated file would otherwise refuse every recipient of every local domain, permanently (550).
const EMPTY_MEANS = 'every recipient of the local domains would be refused';

/** The file's entries (addresses and @domains), or an Error that says what is wrong with it (its path, the line). */
export function readRecipientEntries(file: string): string[] {
  return readListFile(file, recipientEntries, EMPTY_MEANS);
}

/** Why the file cannot serve as the recipient table, or undefined when it can (check-config, start, reload). */
export function recipientTableProblem(file: string): string | undefined {
  return listFileProblem(file, recipientEntries, EMPTY_MEANS);
}

/**
 * The table read from `file`: whether it lists an address, by mailbox (case, quoting and a tag after one of
 * `delimiters` make no difference) or by `@domain`. Throws as recipientTableProblem explains.
 */
export function loadRecipientTable(file: string, delimiters: string): (address: string) => boolean {
  return addressMatcher(readRecipientEntries(file), delimiters);
}

// List files (`lists:` in the config) as the criteria read them: addresses and domains for `from` and `to`, IP
// addresses and networks for `client_ip`. A list's kind is the kind of criterion that names it (rule-set.ts), as an
// Rspamd multimap's type says what its map file holds; list-watch.ts reads the files, at start, reload and on change.
import { asciiDomain } from '../../core/text/ascii.ts';
import { aLabelHostName } from '../../core/text/idn-address.ts';
import { CidrList } from '../../core/net/cidr.ts';
import { listOwner } from '../../core/lists/user-lists.ts';

/** Entries lower-cased: `joe@example.org` (an address), `example.org` (that domain), `.example.org` (and subdomains). */
export type AddressList = ReadonlySet<string>;

/** What a list file holds: `address` for `from` and `to` (also a list no rule names), `ip` for `client_ip`. */
export type ListKind = 'address' | 'ip';

/** A list file as read for its kind; `entries.size` is how many entries it holds. */
export type RuleList = { kind: 'address'; entries: AddressList } | { kind: 'ip'; entries: CidrList };

/** What a list file's lines gave: the list, lines that stop it being used (`problems`), lines that can never match. */
export interface ListRead { list: RuleList; problems: string[]; warnings: string[] }

/** How an admin reads a kind, in messages. */
export const KIND_TEXT: Record<ListKind, string> = {
  address: 'addresses and domains (named by from or to)',
  ip: 'IP addresses and networks (named by client_ip)',
};

/**
 * A domain as it is compared: lower case, in A-label form (`bücher.example` is `xn--bcher-kva.example`), as the front
 * door hands an SMTPUTF8 address over as typed and a rule or list may be written in either form. `.domain` keeps its
 * dot; what is no domain at all stays as written, lower-cased.
 */
export function domainForm(domain: string): string {
  const d = domain.trim().toLowerCase();
  const sub = d.startsWith('.');
  const ascii = asciiDomain(sub ? d.slice(1) : d);
  return ascii ? `${sub ? '.' : ''}${ascii}` : d;
}

/**
 * An address as the rules compare it: lower case, unquoted where it needs no quotes, its domain in A-label form and,
 * with `delimiter`, its tag taken off (`trap+spam@` is `trap@`), as the user-lists plugin takes a recipient. The null
 * sender stays ''.
 */
export function mailboxForm(address: string, delimiter = ''): string {
  return address === '' ? '' : listOwner(address, delimiter);
}

/** A list entry or a rule's `address:` as compared: an address in mailbox form (its tag kept), else a domain. */
export function entryForm(entry: string): string {
  const e = entry.trim().toLowerCase().replace(/^@/, '');
  return e.includes('@') ? mailboxForm(e) : domainForm(e);
}

/** Each entry of a list file with its line number: `#` starts a comment, blank lines are passed over. */
function entriesOf(text: string): Array<{ line: number; entry: string }> {
  const out: Array<{ line: number; entry: string }> = [];
  // A byte order mark, as Windows editors save UTF-8, would make the first entry one no address has.
  text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    const entry = raw.replace(/#.*$/, '').trim();
    if (entry) out.push({ line: i + 1, entry });
  });
  return out;
}

export function parseList(text: string): AddressList {
  return new Set(entriesOf(text).map((e) => entryForm(e.entry)));
}

function isNetwork(entry: string): boolean {
  try { new CidrList([entry]); return true; } catch { return false; }
}

/** An address literal as a domain: `[192.0.2.1]`, `[IPv6:2001:db8::1]`. */
const LITERAL = /^\[[^\s[\]]+\]$/;

/** Why an entry of an address list can match no address (a phrase to follow the entry), or undefined when it can. */
function addressEntryProblem(entry: string): string | undefined {
  if (isNetwork(entry)) {
    return `is an IP ${entry.includes('/') ? 'network' : 'address'}, which never matches in a list of addresses and domains: list IP addresses in a list of their own, named by client_ip`;
  }
  if (/\s/.test(entry)) return 'has a space in it: one entry per line';
  if (/[*?]/.test(entry)) return 'is a pattern, and list entries are compared whole: write .example.org for a domain and its subdomains';
  const domain = entry.slice(entry.lastIndexOf('@') + 1).replace(/^\./, '').replace(/\.$/, '');
  if (!domain) return 'has no domain';
  if (!LITERAL.test(domain) && !aLabelHostName(domain)) return 'is neither an address nor a domain name';
  return undefined;
}

/**
 * A list file's text read as `kind`, its lines named `file:line`. In an IP list a line that is no address or network
 * is a problem: the list would block or allow less than the admin wrote. In an address list a line that can match no
 * address is a warning only, as such lines were taken silently before and a config that has them must still start.
 */
export function parseRuleList(text: string, kind: ListKind, file: string): ListRead {
  const lines = entriesOf(text);
  const problems: string[] = [];
  const warnings: string[] = [];
  if (kind === 'address') {
    for (const { line, entry } of lines) {
      const why = addressEntryProblem(entry);
      if (why) warnings.push(`${file}:${line}: ${JSON.stringify(entry)} ${why}`);
    }
    return { list: { kind, entries: new Set(lines.map((l) => entryForm(l.entry))) }, problems, warnings };
  }
  const networks: string[] = [];
  for (const { line, entry } of lines) {
    try {
      new CidrList([entry]);
      networks.push(entry);
    } catch (e) {
      const hint = entry.includes('@') || aLabelHostName(entry) ? ', and this list is named by client_ip: list addresses and domains in a list of their own, named by from or to' : '';
      problems.push(`${file}:${line}: ${(e as Error).message}${hint}`);
    }
  }
  return { list: { kind, entries: new CidrList(networks) }, problems, warnings };
}

/** True when the address (in mailbox form), its domain, or a parent domain written with a leading dot is in the list. */
export function listHas(list: AddressList, address: string): boolean {
  const a = address;
  if (list.has(a)) return true;
  const at = a.lastIndexOf('@');
  if (at < 0 && a !== '') return false;
  const domain = a.slice(at + 1);
  return domainIn(domain, (d) => list.has(d));
}

/** `domain` itself, or `.domain` and `.parent` for each parent (`.example.org` covers example.org and `a.b.example.org`). */
export function domainIn(domain: string, has: (entry: string) => boolean): boolean {
  if (!domain) return false;
  if (has(domain) || has(`.${domain}`)) return true;
  for (let i = domain.indexOf('.'); i >= 0; i = domain.indexOf('.', i + 1)) if (has(domain.slice(i))) return true;
  return false;
}

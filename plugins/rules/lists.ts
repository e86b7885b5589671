// List files of addresses and domains (`lists:` in the config), read when the plugin is created: at start and on
// every reload, so editing a file and sending SIGHUP applies it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { asciiDomain } from '../../core/text/ascii.ts';
import { listOwner } from '../../core/lists/user-lists.ts';

/** Entries lower-cased: `joe@example.org` (an address), `example.org` (that domain), `.example.org` (and subdomains). */
export type AddressList = ReadonlySet<string>;

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

export function parseList(text: string): AddressList {
  const out = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const entry = line.replace(/#.*$/, '').trim();
    if (entry) out.add(entryForm(entry));
  }
  return out;
}

/** Reads every named list; a file that cannot be read stops the start (or the reload) with its name and path. */
export function readLists(files: Record<string, string>, configDir: string): Map<string, AddressList> {
  const out = new Map<string, AddressList>();
  for (const [name, file] of Object.entries(files)) {
    const full = path.resolve(configDir, file);
    let text: string;
    try { text = readFileSync(full, 'utf8'); } catch (e) {
      throw new Error(`lists.${name}: cannot read ${full}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    out.set(name, parseList(text));
  }
  return out;
}

/** For `moat check-config`: each list file that cannot be read, as the start would refuse it (read, never kept). */
export function listFileIssues(files: Record<string, string>, configDir: string): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  for (const [name, file] of Object.entries(files)) {
    const full = path.resolve(configDir, file);
    try { readFileSync(full, 'utf8'); } catch (e) {
      issues.push({ path: `lists.${name}`, message: `cannot read ${full}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    }
  }
  return issues;
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

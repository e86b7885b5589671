// List files of addresses and domains (`lists:` in the config), read when the plugin is created: at start and on
// every reload, so editing a file and sending SIGHUP applies it.
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Entries lower-cased: `joe@example.org` (an address), `example.org` (that domain), `.example.org` (and subdomains). */
export type AddressList = ReadonlySet<string>;

export function parseList(text: string): AddressList {
  const out = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const entry = line.replace(/#.*$/, '').trim().toLowerCase().replace(/^@/, '');
    if (entry) out.add(entry);
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

/** True when the address, its domain, or a parent domain written with a leading dot is in the list. */
export function listHas(list: AddressList, address: string): boolean {
  const a = address.toLowerCase();
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

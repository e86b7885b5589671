// Each recipient's own sender lists, as Proxmox Mail Gateway's user whitelist and blacklist: senders a recipient
// always wants and senders they never want. Kept in the state store, so every gateway on it, `moat lists` and the
// quarantine pages read and write the same lists.
import { asciiDomain } from '../text/ascii.ts';
import { withoutTag } from './address-matcher.ts';
import type { StateStore } from '../store/types.ts';

export type ListKind = 'allow' | 'block';
export const LIST_KINDS: readonly ListKind[] = ['allow', 'block'];

/** Entries a recipient may keep in one list: enough for anyone's correspondents, and a bound on what a page can add. */
export const MAX_ENTRIES = 1000;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function isDomain(d: string): boolean {
  return d.length <= 253 && d.includes('.') && d.split('.').every((l) => LABEL.test(l));
}


/**
 * A local part as the mailbox knows it: `"bad"` is `bad` (RFC 5321 makes a quoted string that needs no quotes the
 * same mailbox), so quoting an address cannot slip it past a list. One that needs its quotes is kept whole.
 */
function plainLocal(local: string): string {
  const m = /^"([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+)"$/.exec(local);
  return m && !m[1].startsWith('.') && !m[1].endsWith('.') && !m[1].includes('..') ? m[1] : local;
}

/** An address lower-cased, its local part unquoted where it can be and its domain in A-label form. */
function mailbox(address: string): { local: string; domain: string } | null {
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf('@');
  if (at <= 0) return null;
  const domain = asciiDomain(a.slice(at + 1));
  // NFC: an address typed or sent in decomposed form (e + combining accent) is the same mailbox as the composed one.
  return domain ? { local: plainLocal(a.slice(0, at)).normalize('NFC'), domain } : null;
}

/**
 * An entry as it is kept, or null when it is none: `user@example.org` (that address), `@example.org` (every address
 * of that domain), `@.example.org` (that domain and its subdomains); lower case, trimmed. A domain is kept in its
 * ASCII (A-label) form, as the front door hands addresses over; one typed in Unicode is converted.
 */
export function listEntry(text: string): string | null {
  const e = text.trim().toLowerCase();
  const at = e.lastIndexOf('@');
  if (at < 0) return null;
  const local = e.slice(0, at).normalize('NFC');
  const typed = e.slice(at + 1);
  if (local === '') {
    const sub = typed.startsWith('.');
    const bare = asciiDomain(sub ? typed.slice(1) : typed);
    return isDomain(bare) ? `@${sub ? '.' : ''}${bare}` : null;
  }
  const domain = asciiDomain(typed);
  const plain = plainLocal(local);
  if (plain.length > 64 || /[\s<>]/.test(plain) || !isDomain(domain)) return null;
  return `${plain}@${domain}`;
}

/**
 * Whose lists a recipient's mail uses: the address without its tag (`bob+news@example.org` → `bob@example.org`),
 * where a tag starts at the first of `delimiters` after the local part's first character (Postfix's
 * recipient_delimiter); lower case. An empty `delimiters` keeps the address whole.
 */
export function listOwner(recipient: string, delimiters = '+'): string {
  const m = mailbox(recipient);
  if (!m) return recipient.trim().toLowerCase();
  // The domain in A-label form, as the front door takes it: a page, `moat lists` or an older queue entry may name it in Unicode.
  // A local part that stays quoted (a space in it, say) is taken whole: a cut inside the quotes would leave `"ann`.
  if (m.local.startsWith('"')) return `${m.local}@${m.domain}`;
  return `${withoutTag(m.local, delimiters)}@${m.domain}`;
}

/**
 * The key of a recipient's list: the recipient lower-cased, unquoted where it can be and its domain in A-label form,
 * so every caller keys one mailbox alike (the caller takes any address tag off first: listOwner).
 */
export function listKey(kind: ListKind, recipient: string): string {
  const m = mailbox(recipient);
  return `userlists:${kind}:${m ? `${m.local}@${m.domain}` : recipient.trim().toLowerCase()}`;
}

/**
 * The first of `entries` (kept form, see listEntry) that covers `sender`, or undefined. The null sender and an
 * address without a domain are covered by none.
 */
export function matchingEntry(entries: Iterable<string>, sender: string): string | undefined {
  const m = mailbox(sender);
  if (!m) return undefined;
  const { domain } = m;
  const address = `${m.local}@${domain}`;
  for (const e of entries) {
    if (e === address || e === `@${domain}`) return e;
    if (e.startsWith('@.')) {
      const d = e.slice(2);
      if (domain === d || domain.endsWith(`.${d}`)) return e;
    }
  }
  return undefined;
}

/** Whether `sender` is covered by one of `entries` (kept form, see listEntry). */
export function listMatches(entries: Iterable<string>, sender: string): boolean {
  return matchingEntry(entries, sender) !== undefined;
}

export type AddResult = 'added' | 'already listed' | 'list full';

/** Adds an entry (already in kept form) to a recipient's list; a list holds at most MAX_ENTRIES. */
export async function addEntry(store: StateStore, kind: ListKind, recipient: string, entry: string): Promise<AddResult> {
  const key = listKey(kind, recipient);
  if (await store.sismember(key, entry)) return 'already listed';
  // Two writers at once may both pass this check and leave the list an entry or two over: a bound, not an exact cap.
  if ((await store.smembers(key)).length >= MAX_ENTRIES) return 'list full';
  await store.sadd(key, entry);
  return 'added';
}

/** Removes an entry; false when it was not listed. */
export async function removeEntry(store: StateStore, kind: ListKind, recipient: string, entry: string): Promise<boolean> {
  const key = listKey(kind, recipient);
  if (!(await store.sismember(key, entry))) return false;
  await store.srem(key, entry);
  return true;
}

/** A recipient's two lists, entries sorted. */
export async function listsOf(store: StateStore, recipient: string): Promise<Record<ListKind, string[]>> {
  const [allow, block] = await Promise.all(LIST_KINDS.map(async (k) => (await store.smembers(listKey(k, recipient))).sort()));
  return { allow, block };
}

/** Whether the config's plugin chain holds the user-lists plugin, which applies the lists to mail. */
export function userListsApplied(config: { plugins: ReadonlyArray<{ name: string }> }): boolean {
  return config.plugins.some((p) => p.name === 'user-lists');
}

/**
 * The tag delimiters the user-lists plugin's entry sets (`recipient_delimiter`, default `+`), for the quarantine
 * pages, which edit the lists the plugin reads and must take the same tag off a recipient.
 */
export function userListsDelimiters(config: { plugins: ReadonlyArray<{ name: string } & Record<string, unknown>> }): string {
  const entry = config.plugins.find((p) => p.name === 'user-lists');
  return typeof entry?.recipient_delimiter === 'string' ? entry.recipient_delimiter : '+';
}

/**
 * Puts an entry on one list and takes it off the other, so a sender is never on both (the quarantine pages and
 * `moat lists` alike: the latest wish wins). The other list is left alone when this one is full.
 */
export async function putOnList(store: StateStore, kind: ListKind, recipient: string, entry: string): Promise<{ added: AddResult; movedFrom?: ListKind }> {
  const added = await addEntry(store, kind, recipient, entry);
  const other: ListKind = kind === 'allow' ? 'block' : 'allow';
  const moved = added !== 'list full' && await removeEntry(store, other, recipient, entry);
  return moved ? { added, movedFrom: other } : { added };
}

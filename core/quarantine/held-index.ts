// Who has what held, for the recipients' pages and the digest. Reading the whole quarantine at each view cost every
// message file's state for one recipient's page (0.4 s and 20 MB at 20,000 held; 20 views at once: 7.6 s, +438 MB,
// and SMTP intake slowed to 5 s), and anyone holding any recipient's link could ask again and again. The folder is
// read at most once per `maxAgeMs`, however many pages are viewed, into an index of ids by mailbox (mailbox.ts: a
// tagged address is its owner's); a page then loads only the messages it shows, and checks each is still held.
// The folder is read one state file at a time and only a message's id and times are kept, never its whole entry:
// holding every entry (QueueStore.list) cost the digest 32 MB at 20,000 held, growing with the quarantine.
import { readdir } from 'node:fs/promises';
import type { Logger } from '../log/types.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { QueueEntry } from '../queue/entry.ts';
import { forEachBounded } from '../queue/for-each-bounded.ts';
import { enteredFolderAt } from '../queue/entry-times.ts';
import { DEFAULT_DELIMITERS, heldAddresses, mailboxOf } from './mailbox.ts';

export interface HeldMessage {
  id: string;
  receivedAt: number;
  /** When it entered the quarantine (enteredFolderAt): what a digest's period is judged by. */
  enteredAt: number;
}

/** A message loaded for a page or a digest, still held for the mailbox, with the addresses of it held there. */
export interface HeldFor { entry: QueueEntry; to: string[] }

/** Message files read at once for a page. */
const READS_IN_FLIGHT = 16;
/** State files read at once while the index is built (each read is synchronous: this is the turns between slices). */
const BUILD_READS_IN_FLIGHT = 32;

export interface HeldIndexOptions {
  /** How long a built index serves; 0 reads the folder at every call (the digest, which runs once a period). */
  maxAgeMs?: number;
  /** The recipient delimiters in force (read at each use, so a reload applies them); default none. */
  delimiters?: () => string;
  /** Gets a debug line for each read of the folder. */
  log?: Logger;
}

const newestFirst = (a: HeldMessage, b: HeldMessage) => b.receivedAt - a.receivedAt || (a.id < b.id ? 1 : -1);

export class HeldIndex {
  private readonly store: QueueStore;
  private readonly maxAgeMs: number;
  private readonly delimiters: () => string;
  private built: { at: number; delimiters: string; byMailbox: Map<string, HeldMessage[]> } | undefined;
  private building: Promise<Map<string, HeldMessage[]>> | undefined;
  private readonly log: Logger | undefined;
  private folderReads = 0;

  constructor(store: QueueStore, opts: HeldIndexOptions = {}) {
    this.store = store;
    this.maxAgeMs = opts.maxAgeMs ?? 10_000;
    this.delimiters = opts.delimiters ?? (() => DEFAULT_DELIMITERS);
    this.log = opts.log;
  }

  /** How many times the folder was read: what invalidate() and the age bound cost. */
  get reads(): number { return this.folderReads; }

  /** Forgets the index, after a page changed what is held: the recipient's next view reads the folder again. */
  invalidate(): void {
    this.built = undefined;
  }

  /** The mailbox whose held mail a ticket for `address` shows. */
  mailboxOf(address: string): string {
    return mailboxOf(address, this.delimiters());
  }

  /**
   * Page `number` (from 1; past the last, the last) of the messages held for the mailbox of `address`, `size` a page,
   * in the index's order (newest first, then by id, so every message has one place): each loaded now and still held
   * there. `total` is how many the index has for the mailbox, less those of the page found gone; `number` the page
   * given. Only the page's messages are read: the rest are ids and times in the index.
   */
  async page(address: string, number: number, size: number): Promise<{ held: HeldFor[]; total: number; number: number }> {
    const mailbox = this.mailboxOf(address);
    const all = (await this.index()).get(mailbox) ?? [];
    const last = Math.max(1, Math.ceil(all.length / size));
    const shown = Math.min(Math.max(1, Math.floor(number)), last);
    const slice = all.slice((shown - 1) * size, shown * size);
    const held = await this.load(mailbox, slice);
    return { held, total: all.length - (slice.length - held.length), number: shown };
  }

  /** Every message the index has for the mailbox of `address`, newest first: ids and times, nothing loaded. */
  async of(address: string): Promise<readonly HeldMessage[]> {
    return (await this.index()).get(this.mailboxOf(address)) ?? [];
  }

  /**
   * `messages` of `mailbox` loaded, in their order, those no longer held there left out (released or deleted since
   * the index was read).
   */
  async load(mailbox: string, messages: readonly HeldMessage[]): Promise<HeldFor[]> {
    const delimiters = this.delimiters();
    const loaded: Array<HeldFor | undefined> = [];
    await forEachBounded(messages.map((h, i) => [h, i] as const), READS_IN_FLIGHT, async ([h, i]) => {
      const entry = await this.store.load(h.id, 'quarantine');
      const to = entry ? heldAddresses(entry, mailbox, delimiters) : [];
      loaded[i] = entry && to.length ? { entry, to } : undefined;
    });
    return loaded.filter((m): m is HeldFor => !!m);
  }

  /** Every mailbox with mail held, each with its messages newest first. */
  async byMailbox(): Promise<ReadonlyMap<string, readonly HeldMessage[]>> {
    return this.index();
  }

  private async index(): Promise<Map<string, HeldMessage[]>> {
    const delimiters = this.delimiters();
    const b = this.built;
    if (b && b.delimiters === delimiters && Date.now() - b.at < this.maxAgeMs) return b.byMailbox;
    if (this.maxAgeMs === 0) return this.build(delimiters);
    this.building ??= this.build(delimiters).finally(() => { this.building = undefined; });
    return this.building;
  }

  private async build(delimiters: string): Promise<Map<string, HeldMessage[]>> {
    const at = Date.now();
    const byMailbox = new Map<string, HeldMessage[]>();
    // A message's state is its .json (the quarantine holds no journal): the names alone say which messages there are.
    const ids = (await readdir(this.store.dirs.quarantine)).filter((n) => n.endsWith('.json') && !n.slice(0, -5).includes('.')).map((n) => n.slice(0, -5));
    await forEachBounded(ids, BUILD_READS_IN_FLIGHT, async (id) => {
      const e = await this.store.load(id, 'quarantine');
      if (!e) return;
      let held: HeldMessage | undefined;
      for (const r of e.recipients) {
        if (r.status !== 'pending') continue;
        const mailbox = mailboxOf(r.address, delimiters);
        held ??= { id: e.id, receivedAt: e.receivedAt, enteredAt: enteredFolderAt(e) };
        const list = byMailbox.get(mailbox);
        if (!list) byMailbox.set(mailbox, [held]);
        else if (list.at(-1) !== held) list.push(held); // ann@ and ann+shop@ in one message: one message of the mailbox
      }
    });
    for (const list of byMailbox.values()) list.sort(newestFirst);
    if (this.maxAgeMs > 0) this.built = { at, delimiters, byMailbox };
    this.folderReads++;
    this.log?.debug('quarantine index read', { messages: ids.length, mailboxes: byMailbox.size, ms: Date.now() - at });
    return byMailbox;
  }
}

// Queued messages whose files cannot be read (a restore that kept root as their owner) are acknowledged mail: they
// are named in the log at every look, counted (queue_broken), listed by `moat queue list`, and read again now and
// then, so a `chown` mends them without a restart (as Postfix's queue manager warns on each scan and goes on).
import { access, constants, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { QueueEntry } from './entry.ts';
import type { Logger } from '../log/types.ts';
import { accessReason, accountName, chownFix } from './data-dir-access.ts';
import { ownerForRoot } from './ownership.ts';

export interface BrokenMessage {
  id: string;
  /** The file that could not be read, or where a state file that does not parse was kept aside. */
  path: string;
  reason: string;
  /** Still in the queue folder, read again later; false for a state file kept aside in dead-letter. */
  retried: boolean;
}

/** How often messages that could not be read are read again. */
const BROKEN_RECHECK_MS = 5 * 60_000;

/**
 * The queue folder's messages this process cannot read, or, run as root, that data_dir's owner (the gateway's user)
 * could not: root reads everything, so there the owner is what tells.
 */
export async function findUnreadable(dataDir: string): Promise<BrokenMessage[]> {
  const dir = path.join(dataDir, 'queue');
  const owner = ownerForRoot((await stat(dataDir)).uid);
  const found = new Map<string, BrokenMessage>();
  const user = owner === undefined ? undefined : accountName(owner);
  for (const name of await readdir(dir)) {
    const id = name.replace(/\.(eml|json)$/, '');
    if (id === name || id.includes('.') || found.has(id)) continue;
    const file = path.join(dir, name);
    try {
      if (owner !== undefined) {
        const st = await stat(file);
        if (st.uid !== owner && (st.mode & 0o004) === 0) {
          found.set(id, { id, path: file, reason: `owned by ${accountName(st.uid)}, not by data_dir's owner ${user}: the gateway cannot read it: ${chownFix(dataDir, user)}`, retried: true });
        }
      } else await access(file, constants.R_OK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      found.set(id, { id, path: file, reason: accessReason(e, dataDir), retried: true });
    }
  }
  return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

export interface BrokenRecheckOptions {
  /** What recovery could not read. */
  found: BrokenMessage[];
  /** Reads one again (QueueStore.readBroken): its entry, undefined once gone, a throw while still unreadable. */
  read(id: string): Promise<QueueEntry | undefined>;
  /** Hands a message that reads again to the relay workers. */
  schedule(entry: QueueEntry): void;
  log: Logger;
  dataDir: string;
  everyMs?: number;
}

/** The messages recovery could not read, warned about now and at each recheck until they read or are gone. */
export class BrokenRecheck {
  private readonly broken = new Map<string, BrokenMessage>();
  private readonly opts: BrokenRecheckOptions;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(opts: BrokenRecheckOptions) {
    this.opts = opts;
    for (const b of opts.found) this.broken.set(b.id, b);
    for (const b of opts.found) this.warn(b);
  }

  /** Messages in the queue folder that cannot be read now (queue_broken); those kept aside are in dead-letter. */
  get count(): number { return [...this.broken.values()].filter((b) => b.retried).length; }

  private warn(b: BrokenMessage): void {
    this.opts.log.warn(b.retried ? 'queued message cannot be read; it is tried again every few minutes' : 'queued message kept aside: its state cannot be used', { qid: b.id, path: b.path, reason: b.reason });
  }

  start(): void {
    if (![...this.broken.values()].some((b) => b.retried)) return;
    this.timer = setInterval(() => { void this.recheck(); }, this.opts.everyMs ?? BROKEN_RECHECK_MS);
    this.timer.unref();
  }

  /** Reads each unreadable message again; one at a time (a second call joins the first). */
  recheck(): Promise<void> {
    this.running ??= this.readAgain().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async readAgain(): Promise<void> {
    for (const b of [...this.broken.values()]) {
      if (!b.retried) continue;
      let entry: QueueEntry | undefined;
      try { entry = await this.opts.read(b.id); } catch (e) {
        const now = { ...b, path: (e as NodeJS.ErrnoException).path ?? b.path, reason: e instanceof Error && !(e as NodeJS.ErrnoException).code ? e.message : accessReason(e, this.opts.dataDir) };
        this.broken.set(b.id, now);
        this.warn(now);
        continue;
      }
      this.broken.delete(b.id);
      if (!entry) { this.opts.log.info('unreadable queued message is gone', { qid: b.id }); continue; }
      this.opts.schedule(entry);
      this.opts.log.info('queued message can be read again: scheduled', { qid: b.id });
    }
    if (![...this.broken.values()].some((b) => b.retried)) this.stop();
  }

  stop(): void { clearInterval(this.timer); }
}

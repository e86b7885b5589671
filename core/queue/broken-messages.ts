// Queued messages whose files cannot be read (a restore that kept root as their owner) are acknowledged mail: they
// are named in the log at every look, counted (queue_broken), listed by `moat queue list`, and read again now and
// then, so a `chown` mends them without a restart (as Postfix's queue manager warns on each scan and goes on).
// Files a start set aside in data_dir/corrupt (set-aside.ts) are acknowledged mail too: logged as errors, counted and
// listed the same way until an admin mends them.
import { access, constants, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { QueueEntry } from './entry.ts';
import type { Logger } from '../log/types.ts';
import { accessReason, accountName, chownFix } from './data-dir-access.ts';
import { ownerForRoot } from './ownership.ts';
import { SET_ASIDE_LINE, setAsideItems, WRONG_KEY_CAUSE, WRONG_KEY_FIX, type AsideKind } from './set-aside.ts';
import { QUEUE_KEY_FILE, QueueKey } from './queue-key.ts';
import { checkSeal } from './envelope-seal.ts';
import { firstRecordWrongKey, HEADER_LENGTH, isSegmentName, recordLengths } from './journal-record.ts';

export interface BrokenMessage {
  id: string;
  /** The file that could not be read, or where a state file that does not parse was kept aside. */
  path: string;
  reason: string;
  /** Still in the queue folder, read again later; false for a state file kept aside in dead-letter. */
  retried: boolean;
  /** Moved to data_dir/corrupt by a start, and why (set-aside.ts). */
  setAside?: AsideKind;
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
  for (const b of await findUnverified(dataDir)) if (!found.has(b.id)) found.set(b.id, b);
  for (const item of setAsideItems(dataDir)) found.set(`${item.id} ${item.path}`, { id: item.id, path: item.path, reason: `set aside by a start: ${item.reason}`, retried: false, setAside: item.kind });
  return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** The first record of a journal segment, or as much of it as the file has. */
async function firstRecord(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(HEADER_LENGTH);
    const { bytesRead } = await fh.read(head, 0, HEADER_LENGTH, 0);
    const lengths = recordLengths(head.subarray(0, bytesRead));
    if (!lengths) return head.subarray(0, bytesRead);
    // No more than the file holds: a damaged header may claim gigabytes.
    const whole = Buffer.alloc(Math.min(HEADER_LENGTH + lengths.json + lengths.body, (await fh.stat()).size));
    const got = await fh.read(whole, 0, whole.length, 0);
    return whole.subarray(0, got.bytesRead);
  } finally { await fh.close(); }
}

/**
 * Queue files that queue.key does not verify, before a start has set them aside: a message file whose seal fails its
 * HMAC, a journal segment whose first record does (one record per segment is read: enough to tell a journal restored
 * without its key). Without queue.key, what needs it. For `moat queue list` and `moat doctor`, which read without
 * changing anything.
 */
export async function findUnverified(dataDir: string): Promise<BrokenMessage[]> {
  const key = new QueueKey(dataDir).current;
  const out: BrokenMessage[] = [];
  const names = new Set(await readdir(path.join(dataDir, 'queue')).catch(() => [] as string[]));
  const sealed = [...names].filter((n) => n.endsWith('.eml') && !n.slice(0, -4).includes('.') && !names.has(`${n.slice(0, -4)}.json`));
  const segments = (await readdir(path.join(dataDir, 'journal')).catch(() => [] as string[])).filter(isSegmentName);
  const missing = `queue.key is missing: ${path.join(dataDir, QUEUE_KEY_FILE)}; restore it from the same backup as the queue`;
  for (const n of sealed) {
    const file = path.join(dataDir, 'queue', n);
    let problem: string | undefined = missing;
    if (key) {
      try {
        const fh = await open(file, 'r');
        try { const c = await checkSeal(fh, key); problem = 'problem' in c && c.problem !== 'unsealed' ? c.problem : undefined; } finally { await fh.close(); }
      } catch { continue; }
    }
    if (problem === 'wrong-key') problem = `its sealed envelope does not verify: ${WRONG_KEY_CAUSE} ${WRONG_KEY_FIX}`;
    else if (problem === 'damaged') problem = 'its sealed envelope verifies, but not for the message before it: damaged';
    if (problem) out.push({ id: n.slice(0, -4), path: file, reason: problem, retried: false });
  }
  for (const n of segments) {
    const file = path.join(dataDir, 'journal', n);
    let wrong = !key;
    if (key) { try { wrong = firstRecordWrongKey(await firstRecord(file), key); } catch { continue; } }
    if (wrong) out.push({ id: n, path: file, reason: key ? `the journal segment's records do not verify: ${WRONG_KEY_CAUSE} ${WRONG_KEY_FIX}; its messages are not listed` : `${missing}; the segment's messages are not listed`, retried: false });
  }
  return out;
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
  /**
   * What sets messages aside after the start (QueueStore: a message file found cut short at a delivery attempt, a
   * release or a requeue): each is counted from that moment. It logged its own error line.
   */
  setAsideLater?: { onSetAside(listener: (found: BrokenMessage) => void): void };
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
    const aside = opts.found.filter((b) => b.setAside);
    if (aside.length) {
      const of = (kind: AsideKind) => aside.filter((b) => b.setAside === kind).length;
      const wrongKey = of('wrong-key');
      opts.log.error(wrongKey ? `queue files set aside in data_dir/corrupt: ${WRONG_KEY_CAUSE}` : 'queue files set aside in data_dir/corrupt: acknowledged mail not delivered until mended', {
        messages: aside.length, seal_mismatch: wrongKey, cut: of('cut'), damaged: of('damaged'), dir: path.join(opts.dataDir, 'corrupt'),
        ...(wrongKey ? { fix: WRONG_KEY_FIX } : {}),
      });
    }
    for (const b of opts.found) this.warn(b);
    opts.setAsideLater?.onSetAside((b) => this.broken.set(b.id, b));
  }

  /**
   * Messages in the queue folder that cannot be read now, and those this start found set aside in data_dir/corrupt
   * (queue_broken); a state file kept aside in dead-letter is listed there.
   */
  get count(): number { return [...this.broken.values()].filter((b) => b.retried || b.setAside).length; }

  private warn(b: BrokenMessage): void {
    const fields = { qid: b.id, path: b.path, reason: b.reason };
    if (b.setAside) this.opts.log.error(SET_ASIDE_LINE, fields);
    else this.opts.log.warn(b.retried ? 'queued message cannot be read; it is tried again every few minutes' : 'queued message kept aside: its state cannot be used', fields);
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

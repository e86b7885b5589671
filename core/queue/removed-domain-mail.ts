// Mail still waiting, in the queue or the quarantine, for a domain a reload took out of `domains`. It is delivered
// all the same, by whatever route the new config gives that domain: a walkthrough saw it go, without a word, to the
// default smarthost, which was not where that domain's mail belonged any more.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import { localDomainSet } from '../config/domain-warnings.ts';
import { RouteTable } from '../relay/routes.ts';
import { comparableDomain } from '../text/idn-address.ts';
import type { QueueEntry } from './entry.ts';
import { readStateFile, type QueueStore } from './queue-store.ts';

export interface RemovedDomainMail {
  domain: string;
  /** Messages with a recipient at `domain` still to deliver. */
  queued: number;
  /** Messages held in the quarantine for a recipient at `domain`. */
  quarantined: number;
  /** The route that mail now takes, in words. */
  route: string;
  /**
   * The counts are at least these: more state files were there than a reload reads (STATE_FILES_READ_AT_MOST).
   * Named as the log line's field.
   */
  at_least?: true;
}

/**
 * State files a reload reads at most, over the held messages of the queue and the quarantine: the warning needs to know
 * that mail waits, not to the message, and reading all of a 20,000-message quarantine took 2 s of a reload.
 */
export const STATE_FILES_READ_AT_MOST = 2000;

/** How long the reads hold the event loop before they let it run. */
const SLICE_MS = 10;

/** The recipients still to do of some messages, by domain. */
type Pending = Array<ReadonlyArray<Pick<QueueEntry['recipients'][number], 'address' | 'status'>>>;

/** How many of the messages have a recipient at `domain` whose delivery is still to come. */
function waitingFor(messages: Pending, domain: string): number {
  return messages.filter((rs) => rs.some((r) => r.status === 'pending' && comparableDomain(r.address.slice(r.address.lastIndexOf('@') + 1)) === domain)).length;
}

function routeInWords(config: GatewayConfig, domain: string): string {
  const route = new RouteTable(config.routes).lookup(domain);
  if (route.key === '') return `the default route (${config.smarthost ? 'the smarthost' : 'files under data_dir/delivered'})`;
  return route.key === '*' ? 'the "*" route' : `the route ${JSON.stringify(route.key)}`;
}

/** Ids of `dir` with a message file and a state file, less those in `skip`: in the queue folder, the held messages. */
async function messagesWithState(dir: string, skip: ReadonlySet<string>): Promise<string[]> {
  const names = new Set(await readdir(dir));
  const out: string[] = [];
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    const id = n.slice(0, -5);
    if (!id.includes('.') && !skip.has(id) && names.has(`${id}.eml`)) out.push(id);
  }
  return out;
}

/** The recipients of up to `budget.left` of the messages' state files, read in slices between which the event loop runs. */
async function readRecipients(dir: string, ids: string[], budget: { left: number }): Promise<Pending> {
  const out: Pending = [];
  let sliceStart = performance.now();
  for (const id of ids.slice(0, budget.left)) {
    budget.left--;
    // Read as QueueStore.list reads it (synchronously: a state file is a few KB in the page cache); one that cannot be
    // read counts for nothing here, and the start's recovery says what it is.
    let e: QueueEntry | undefined;
    try { e = readStateFile(path.join(dir, `${id}.json`)); } catch { e = undefined; }
    if (e) out.push(e.recipients);
    if (performance.now() - sliceStart >= SLICE_MS) { await new Promise((r) => setImmediate(r)); sliceStart = performance.now(); }
  }
  return out;
}

/**
 * Each domain in `before`'s `domains` and not in `after`'s that has mail waiting; nothing is read when none was removed.
 * The messages the relay workers schedule (`scheduled`) are counted from memory; held ones and the quarantine only
 * live on disk, and at most `readAtMost` of their state files are read (`at_least` when there were more).
 */
export async function removedDomainMail(before: GatewayConfig, after: GatewayConfig, store: QueueStore, scheduled: readonly QueueEntry[], readAtMost = STATE_FILES_READ_AT_MOST): Promise<RemovedDomainMail[]> {
  const kept = localDomainSet(after);
  const removed = [...localDomainSet(before)].filter((d) => !kept.has(d));
  if (removed.length === 0) return [];
  const live: Pending = scheduled.map((e) => e.recipients);
  const held = await messagesWithState(store.dirs.queue, new Set(scheduled.map((e) => e.id)));
  const quarantined = await messagesWithState(store.dirs.quarantine, new Set());
  const budget = { left: readAtMost };
  const queue = [...live, ...await readRecipients(store.dirs.queue, held, budget)];
  const quarantine = await readRecipients(store.dirs.quarantine, quarantined, budget);
  const partial = held.length + quarantined.length > readAtMost;
  return removed
    .map((domain) => ({ domain, queued: waitingFor(queue, domain), quarantined: waitingFor(quarantine, domain), route: routeInWords(after, domain), ...(partial ? { at_least: true as const } : {}) }))
    .filter((m) => m.queued + m.quarantined > 0);
}

/** The reload report's line for `m`. */
export function removedDomainWarning(m: RemovedDomainMail): string {
  const atLeast = m.at_least ? 'at least ' : '';
  return `domains: ${JSON.stringify(m.domain)} was taken out while ${atLeast}${m.queued} message(s) in the queue and ${atLeast}${m.quarantined} in the quarantine wait for it: `
    + `that mail now goes by ${m.route}; put the domain back, or give it a route, if its mail belongs elsewhere`;
}

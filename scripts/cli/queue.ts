// `moat queue`: see and steer the delivery queue and the quarantine; changes go through the running gateway when
// there is one.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_OPTIONS, readCommand, USAGE_ERROR } from './args.ts';
import { ConfigError, loadConfig } from '../../core/config/load.ts';
import { QueueStore, type QueueFolder } from '../../core/queue/queue-store.ts';
import { forTerminal, listedEntry, listRow, overview, showMessage, HEAD_BYTES, type ListedEntry, type ListRow, type ShownMessage } from '../../core/queue/inspect.ts';
import { actOnEach, gatewayList, gatewayStatus, queueActions } from '../../core/control/client.ts';
import { queueIdProblem } from '../../core/control/protocol.ts';
import { folderHolding, type AdminResult, type AdminVerb } from '../../core/queue/admin-ops.ts';
import { isAddressArg } from '../../core/queue/actions.ts';
import { ageSelector, parseStates, recipientSelector, scope, select, SelectorError, senderSelector, userSelector, type QueueState } from '../../core/queue/selector.ts';
import { decodeWords } from '../../core/text/encoded-words.ts';
import { findUnreadable, type BrokenMessage } from '../../core/queue/broken-messages.ts';
import { isAccessError } from '../../core/queue/data-dir-access.ts';
import { forEachBounded } from '../../core/queue/for-each-bounded.ts';
import { heldHeaders, shownText } from '../../core/quarantine/summary.ts';
import { queueShape } from '../../core/queue/shape.ts';
import { shapeLines } from '../../core/queue/shape-table.ts';
import { domainLabel } from '../../core/queue/domain-label.ts';

const USAGE = `usage: moat queue <command> [--config FILE [--set KEY=VALUE]… | --data-dir DIR] [--json]
       moat queue --shape [--by recipient|sender] [--top N] [--config FILE … | --data-dir DIR] [--json]

  list [SELECTORS]                              id, age, state, sender, every recipient (marked with where it
                                                stands once one is delivered, failed or released, and the
                                                reply that failed it), when it was received (UTC),
                                                attempts, next attempt, last reply (why it still waits),
                                                and in the quarantine its Subject and why each message
                                                is held; states: active (being delivered now), due
                                                (waiting for a relay worker, or for the gateway's start),
                                                deferred, held, dead, quarantined; and unreadable: a
                                                queued message whose files the gateway's user cannot read
                                                (with the file and the fix; exit 1)
  show ID                                       envelope, headers, delivery history (any folder)
  flush [ID | SELECTORS]                        retry now: one message, every deferred one, or those selected
  hold ID… | SELECTORS                          stop delivering until released
  release ID… | SELECTORS                       deliver again, now; a quarantined message is delivered as
                                                it was stored (verdict headers kept, not scanned again)
                                                with an X-Mailmoat-Released header
  delete ID… | SELECTORS                        delete messages (an ID is found in any folder; --to: only
                                                that recipient, or their recipients in DOMAIN); delete --all
                                                needs --folder, --state or --yes (--yes alone: the queue)
  requeue ID… | SELECTORS                       put dead-lettered messages back in the queue, due now: their
                                                failed recipients (--to: only that one, or those in DOMAIN)
                                                are tried again on a fresh retry schedule and lifetime;
                                                delivered ones are not sent again (as postsuper -r)
  release ID --recipient ADDRESS                deliver a quarantined message to that one recipient only;
                                                the others stay in the quarantine
  delete ID --recipient ADDRESS                 drop that one recipient of a quarantined message (the
                                                message goes once no recipient is left)
  overview                                      messages and oldest age per destination domain
  --shape                                       as Postfix's qshape: the messages waiting (not held) per
                                                recipient domain, by age: a column per bucket headed by its
                                                upper bound in minutes (T: all of them; 5: under 5m; 10:
                                                5m to 10m; … 640+: older), a TOTAL row, then the domains,
                                                busiest first. A message counts once in each domain it still
                                                has recipients in, and once in TOTAL
    --by sender                                 per sender domain instead ('<>': bounces and other notices)
    --top N                                     only the N busiest domains

SELECTORS pick messages instead of ids, the same for every command:
  --all | --to ADDRESS|DOMAIN | --from ADDRESS  every message, those with a recipient still to do at ADDRESS
                                                or in DOMAIN (whole: no patterns), those from ADDRESS ('<>':
                                                bounces); --to and --from go together, --all alone
  --user LOGIN                                  those a client sent logged in as LOGIN (AUTH or XCLIENT
                                                LOGIN=; exactly, case too): hold a compromised account's mail
                                                with hold --user; goes with --to and --from
  --older-than AGE | --newer-than AGE           those received at least, or less than, AGE ago (30m, 2h, 4d,
                                                1w); either or both, with the others or alone
  [--folder queue|deadletter|quarantine]        where to look: the queue by default (requeue: dead-letter)
  [--state STATE[,STATE…]]                      only messages in those states (of one folder; list: without
                                                --all)
Each command picks only the messages it can change: hold the active, due and deferred ones, release the held
(or, with --folder quarantine, the quarantined), flush the deferred, requeue the dead-lettered. A command on
selected messages prints its totals ("deleted 2,970 messages"), each message's line with --verbose (-v) or
--json.

With a gateway running on the data_dir, flush/hold/release/requeue/delete go through its control socket
(data_dir/control.sock), so they never race with the relay workers; without one they edit the files
(under data_dir/queue.lock: the gateway does not start until they are done).
An action on a message being delivered waits for that attempt, and says so when it delivered the message.
Exit code: 0 done (or already so: held, scheduled, due; with selectors, also for a message that left before its
turn); 1 a message was not found, or the command does not apply to it (flush of a held one: release; requeue of
one in the queue: flush; delete or hold of one delivered while it waited), or an error; 64 usage error (a
selector that is not a whole domain or address, such as '*', is one).`;

const OPTIONS = {
  ...CONFIG_OPTIONS, 'data-dir': { type: 'string' }, json: { type: 'boolean' },
  folder: { type: 'string' }, to: { type: 'string' }, from: { type: 'string' }, user: { type: 'string' }, all: { type: 'boolean' },
  recipient: { type: 'string' }, state: { type: 'string' }, shape: { type: 'boolean' }, by: { type: 'string' }, top: { type: 'string' }, 'older-than': { type: 'string' }, 'newer-than': { type: 'string' }, verbose: { type: 'boolean', short: 'v' }, yes: { type: 'boolean' },
} as const;

const FOLDERS: readonly QueueFolder[] = ['queue', 'deadletter', 'quarantine'];

class UsageError extends Error {}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}
const iso = (ms: number | null) => (ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');
const t = (s: string) => forTerminal(s);

/**
 * Every recipient of a row, each one no longer pending marked with where it stands (delivered, failed…): in the
 * queue too, where the JSON's `recipients` are the pending ones only, so the text shows what the JSON's
 * `recipientStatus` does.
 */
function recipientsText(r: ListRow): string {
  // Marked only beside a settled one: a message whose recipients all wait reads as before.
  const mixed = r.recipientStatus.some((s) => s.status !== 'pending');
  return r.recipientStatus.map((s) => {
    if (s.status === 'pending') return mixed ? `${t(s.address)} (pending)` : t(s.address);
    // A released recipient's copy is a message of its own: its id says where to follow it.
    return s.status === 'released' && s.reply ? `${t(s.address)} (released, ${t(s.reply)})` : `${t(s.address)} (${s.status})`;
  }).join(', ');
}

function printList(rows: ListRow[], none: string): void {
  if (!rows.length) { console.log(none); return; }
  for (const r of rows) {
    // The reply that failed each recipient: in dead-letter they may differ, and a delivered one needs none.
    const failed = r.recipientStatus.filter((s) => s.status === 'failed');
    // The last reply is why the message still waits (a deferred recipient's, when there is one); only one of the
    // failed lines below saying it already leaves it out.
    const last = r.lastReply && !failed.some((s) => s.reply === r.lastReply) ? `  last: ${t(r.lastReply)}` : '';
    console.log(`${r.id}  ${age(r.age).padStart(4)}  ${r.state.padEnd(11)}  <${t(r.sender)}> -> ${recipientsText(r)}`);
    if (r.subject !== undefined) console.log(`    subject: ${r.subject}`);
    console.log(`    received ${iso(r.receivedAt)}  size ${r.size}  attempts ${r.attempts}  next ${r.state === 'deferred' ? iso(r.nextAttempt) : '-'}${last}`);
    if (r.verdict) console.log(`    score ${r.verdict.score}${r.verdict.symbols.length ? `  ${r.verdict.symbols.slice(0, 8).map(t).join(' ')}${r.verdict.symbols.length > 8 ? ' …' : ''}` : ''}`);
    // Why a quarantined message is held: the threshold reached, or the plugin or rule that forced it (PMG's list shows it).
    if (r.verdict?.reason) console.log(`    reason: ${t(r.verdict.reason)}`);
    for (const s of failed) console.log(`    failed <${t(s.address)}>: ${t(s.reply ?? 'no reply recorded')}`);
  }
  console.log(`${rows.length} message(s)`);
}

function printOverview(rows: ReturnType<typeof overview>): void {
  if (!rows.length) { console.log('queue is empty'); return; }
  console.log(`${'domain'.padEnd(32)} ${'messages'.padStart(8)} ${'rcpts'.padStart(6)} ${'oldest'.padStart(6)} ${'deferred'.padStart(8)} ${'held'.padStart(5)}`);
  for (const r of rows) console.log(`${domainLabel(r.domain).padEnd(32)} ${String(r.messages).padStart(8)} ${String(r.recipients).padStart(6)} ${age(r.oldest).padStart(6)} ${String(r.deferred).padStart(8)} ${String(r.held).padStart(5)}`);
}

function printMessage(m: ShownMessage): void {
  const e = m.entry;
  console.log(`id:         ${e.id} (${m.folder}${e.held ? ', held' : ''})`);
  console.log(`received:   ${iso(e.receivedAt)} from ${e.client.ip}${e.client.helo ? ` (${t(e.client.helo)})` : ''}${e.client.user ? ` user ${t(e.client.user)}` : ''}`);
  console.log(`sender:     <${t(e.mailFrom)}>`);
  // The ID the log's `message` and delivery lines carry; entries written before it was kept have none.
  if (e.messageId) console.log(`message-id: ${t(e.messageId)}`);
  for (const r of e.recipients) console.log(`recipient:  <${t(r.address)}> ${r.status}${r.reply ? ` (${t(r.reply)})` : ''}`);
  console.log(`size:       ${e.size}   attempts: ${e.attempts}   next: ${m.folder === 'queue' && !e.held ? iso(e.nextAttemptAt) : '-'}`);
  if (m.damaged) console.log(`damaged:    ${t(m.damaged)}`);
  if (e.verdict) console.log(`verdict:    ${[e.verdict.action, `score ${e.verdict.score}`, ...e.verdict.symbols.map(t)].join(' ')}`);
  console.log('headers:');
  for (const h of m.headers) {
    console.log(`  ${t(h.name)}: ${t(h.value)}`);
    // Encoded words (=?KOI8-R?B?…?=) as the recipient's mail program shows them.
    const decoded = decodeWords(h.value);
    if (decoded !== h.value) console.log(`    (decoded: ${t(decoded)})`);
  }
  if (m.headersCut) console.log(`  (the header section is longer than ${HEAD_BYTES / 1024} KB: the fields after that are not shown)`);
  console.log('history:');
  if (!e.history.length) console.log('  (no attempt yet)');
  for (const h of e.history) console.log(`  ${iso(h.at)}  ${t(h.result)}`);
}

/** The ids named on the command line, each once, in order; a malformed one stops the command before anything changes. */
function queueIds(args: string[]): string[] {
  for (const id of args) {
    const problem = queueIdProblem(id);
    if (problem) throw new UsageError(problem);
  }
  return [...new Set(args)];
}

function folderOption(value: unknown): QueueFolder | undefined {
  if (value === undefined) return undefined;
  if (!FOLDERS.includes(value as QueueFolder)) throw new UsageError(`unknown folder ${JSON.stringify(value)} (queue, deadletter or quarantine)`);
  return value as QueueFolder;
}

const stateOption = (value: unknown): QueueState[] | undefined => (typeof value === 'string' ? parseStates(value) : undefined);

/** The --older-than and --newer-than of a command line, as a Selector takes them. */
function ageOptions(o: Record<string, unknown>): { olderThan?: number; newerThan?: number } {
  const older = o['older-than'], newer = o['newer-than'];
  return {
    ...(typeof older === 'string' ? { olderThan: ageSelector(older, '--older-than') } : {}),
    ...(typeof newer === 'string' ? { newerThan: ageSelector(newer, '--newer-than') } : {}),
  };
}

async function dataDir(o: { 'data-dir'?: string; config?: string; set?: string[] }): Promise<string> {
  if (o['data-dir'] !== undefined && (o.config !== undefined || o.set?.length)) throw new UsageError('give --config (and --set) or --data-dir, not both');
  const dir = o['data-dir'] ?? (await loadConfig({ file: o.config, overrides: o.set ?? [] })).config.data_dir;
  // A mistyped path must not become a new, empty queue with a key of its own.
  if (!existsSync(dir)) throw new Error(`data_dir ${dir} does not exist`);
  if (!existsSync(path.join(dir, 'queue.key')) && !existsSync(path.join(dir, 'queue'))) throw new Error(`${dir} holds no queue (no queue.key): is it the gateway's data_dir?`);
  return dir;
}

type Json = (value: unknown, text: () => void) => void;

/**
 * A folder's messages and the ids being delivered: from the running gateway, which holds the scheduled ones in memory
 * (reading 50,000 state files beside it took seconds), else from the files.
 */
async function listed(store: QueueStore, folder: QueueFolder): Promise<{ entries: ListedEntry[]; busy: Set<string> }> {
  const live = await gatewayList(store, folder);
  if (live) return { entries: live.entries, busy: new Set(live.busy) };
  // A gateway from before the list op may still run: it tells what it is delivering.
  const busy = new Set(folder === 'queue' ? (await gatewayStatus(store))?.busy ?? [] : []);
  return { entries: (await store.list(folder)).map(listedEntry), busy };
}

/** Message heads read at once for the quarantine's subjects. */
const HEADS_IN_FLIGHT = 16;

/**
 * Gives each quarantined row its Subject, as the digest shows it: read from the message's header section (its first
 * 8 KB, nearly always), since neither the state file nor the held index keeps it (its cost: core/queue/README.md, The verbs).
 */
async function addSubjects(store: QueueStore, rows: ListRow[]): Promise<void> {
  await forEachBounded(rows, HEADS_IN_FLIGHT, async (r) => {
    const field = await heldHeaders(store, r.id);
    r.subject = shownText(field('subject') ?? '') || '(no subject)';
  });
}

/** `list`: a folder's messages, or those of the states, sender and recipient (or recipient domain) asked for. */
async function list(store: QueueStore, o: Record<string, unknown>, out: Json): Promise<number> {
  if (o.all !== undefined) throw new UsageError('list shows every message unless --state, --to, --from, --user, --older-than or --newer-than narrow it: --all does not apply');
  const { folder, states } = scope(undefined, folderOption(o.folder), stateOption(o.state));
  const to = typeof o.to === 'string' ? recipientSelector(o.to) : undefined;
  const from = typeof o.from === 'string' ? senderSelector(o.from) : undefined;
  const user = typeof o.user === 'string' ? userSelector(o.user) : undefined;
  const { entries, busy } = await listed(store, folder);
  const now = Date.now();
  const ages = ageOptions(o);
  const rows = select(entries, { folder, states, to, from, user, ...ages }, busy, now).map((e) => listRow(e, folder, busy, now));
  if (folder === 'quarantine') await addSubjects(store, rows);
  const narrowed = o.state !== undefined || to !== undefined || from !== undefined || user !== undefined || Object.keys(ages).length > 0;
  // Acknowledged mail all the same, which neither the gateway nor this command can read: listed with why, never left out.
  const unreadable = folder === 'queue' && !narrowed ? await findUnreadable(store.dataDir) : [];
  // Run as root, this command reads what the gateway's user cannot: the gateway's view is the one shown.
  const brokenIds = new Set(unreadable.map((b) => b.id));
  const readable = rows.filter((r) => !brokenIds.has(r.id));
  out([...readable, ...unreadable.map((b) => ({ id: b.id, state: 'unreadable', path: b.path, reason: b.reason }))], () => {
    if (readable.length || !unreadable.length) printList(readable, narrowed ? 'no matching message' : `${folder} is empty`);
    printUnreadable(unreadable);
  });
  return unreadable.length ? 1 : 0;
}

function printUnreadable(broken: BrokenMessage[]): void {
  for (const b of broken) console.log(`${b.id}  ${'unreadable'.padEnd(11)}  ${t(b.path)}: ${t(b.reason)}`);
  if (broken.length) console.log(`${broken.length} message(s) cannot be read`);
}

async function show(store: QueueStore, ids: string[], out: Json): Promise<number> {
  if (ids.length !== 1) throw new UsageError('show takes one queue id');
  const [id] = queueIds(ids);
  const m = await showMessage(store, id);
  if (!m) { console.error(`${id}: not found in the queue, the quarantine or the dead-letter folder`); return 1; }
  out(m, () => printMessage(m));
  return 0;
}

/**
 * Where a message that `flush ID` did not make due stands: `held` (release applies), `active` (being delivered now),
 * `due` (already), `dead` or `quarantined` (requeue or release applies), `missing`.
 */
type FlushMiss = 'held' | 'active' | 'due' | 'dead' | 'quarantined' | 'missing';

async function flushMiss(store: QueueStore, id: string, live: boolean): Promise<FlushMiss> {
  const folder = await folderHolding(store, id);
  if (folder === 'quarantine') return 'quarantined';
  if (folder === 'deadletter') return 'dead';
  if (!folder) return 'missing';
  // A hold is written to the message's state file, by the gateway as on the files.
  if ((await store.load(id))?.held) return 'held';
  // The gateway's flush makes due every scheduled message that waits for its next attempt: one it did not is in a
  // delivery now, or waits for a relay worker.
  if (live && (await gatewayStatus(store))?.busy.includes(id)) return 'active';
  return 'due';
}

/** What `flush ID` says when the message was not made due, and whether that is a failure (exit 1). */
function flushMissText(id: string, state: FlushMiss, live: boolean): { text: string; failed: boolean } {
  switch (state) {
    case 'held': return { text: `held: moat queue release ${id} delivers it`, failed: true };
    case 'quarantined': return { text: `in quarantine: moat queue release ${id} delivers it`, failed: true };
    case 'dead': return { text: `in the dead-letter folder: moat queue requeue ${id} delivers it again`, failed: true };
    case 'missing': return { text: 'not found in the queue, the quarantine or the dead-letter folder', failed: true };
    case 'active': return { text: 'being delivered now', failed: false };
    case 'due': return { text: live ? 'already due: it goes as soon as a relay worker is free' : 'already due: it goes at the next start of the gateway', failed: false };
  }
}

async function flush(store: QueueStore, args: string[], out: Json): Promise<number> {
  if (args.length > 1) throw new UsageError('flush takes at most one queue id');
  const [id] = queueIds(args);
  const owner = await queueActions(store);
  try {
    const n = await owner.actions.flush(id);
    const via = owner.live ? 'gateway' : 'files';
    if (!id || n > 0) {
      out({ flushed: n, via }, () => console.log(`${n} message(s) due now${owner.live || n === 0 ? '' : ' (no gateway running: they go at its next start)'}`));
      return 0;
    }
    // Nothing made due: say where the message stands, and fail when the flush cannot apply to it (another verb does).
    const state = await flushMiss(store, id, !!owner.live);
    const { text, failed } = flushMissText(id, state, !!owner.live);
    out({ flushed: 0, via, state }, () => { if (!failed) console.log(`${id}: ${text}`); });
    if (failed) console.error(`${id}: ${text}`);
    return failed ? 1 : 0;
  } finally { owner.release(); }
}

const DONE: Record<AdminVerb, string> = { flush: 'due now', delete: 'deleted', hold: 'held', release: 'released', requeue: 'requeued: its failed recipients are due now' };

/** A `--to` in a result: one recipient (`<alice@example.org>`) or a domain's (`in example.org`). */
const one = (to: string) => isAddressArg(to);

function resultText(command: AdminVerb, r: AdminResult, to?: string): string {
  if (r === 'done') {
    if (command === 'delete' && to) return one(to) ? `its recipient <${t(to)}> deleted (the message goes once none is left)` : `its recipients in ${to} deleted (the message goes once none is left)`;
    if (command === 'requeue' && to) return one(to) ? `requeued: its failed recipient <${t(to)}> is due now` : `requeued: its failed recipients in ${to} are due now`;
    return DONE[command];
  }
  if (r === 'missing') return 'not found in the queue, the quarantine or the dead-letter folder';
  if (r === 'delivered') return `being delivered when the ${command} came: delivered while the ${command} waited, nothing left to ${command}`;
  if (r === 'dead-letter') return 'in the dead-letter folder: requeue delivers it again, delete removes it';
  if (r === 'quarantine') return 'in quarantine: use release';
  if (command === 'hold') return 'already held, or quarantined (not delivered until released)';
  if (command === 'release') return 'not held: already scheduled';
  if (command === 'flush') return 'not made due: already due, held, or being delivered';
  if (command === 'requeue') return to ? (one(to) ? `<${t(to)}> is not a failed recipient of it` : `no failed recipient in ${to}`) : 'not dead-lettered: it is still in the queue (flush retries it now)';
  return to ? (one(to) ? `<${t(to)}> is not a pending recipient of it` : `no pending recipient in ${to}`) : 'no change';
}

const TOTAL = { delete: 'deleted', hold: 'held', release: 'released', requeue: 'requeued' } as const;

/** "1 message", "2,970 messages". */
const messages = (n: number) => `${n.toLocaleString('en-US')} message${n === 1 ? '' : 's'}`;

/**
 * What a bulk command did, in a line or a few, as Postfix's `postsuper: Deleted: 2970 messages`: the total done, then
 * how many ended otherwise (a message delivered while the hold waited), each reason once.
 */
function totalLines(command: AdminVerb, results: Record<string, AdminResult | 'error'>, to?: string): string[] {
  const others = new Map<string, number>();
  let done = 0;
  for (const r of Object.values(results)) {
    if (r === 'done') { done++; continue; }
    const text = r === 'error' ? `${command} failed (each named on stderr)` : resultText(command, r, to);
    others.set(text, (others.get(text) ?? 0) + 1);
  }
  const head = command === 'flush' ? `${messages(done)} due now`
    : to && command === 'delete' ? `deleted ${one(to) ? `<${t(to)}>` : `the recipients in ${to}`} of ${messages(done)}`
      : to && command === 'requeue' ? `requeued ${one(to) ? `<${t(to)}>` : `the failed recipients in ${to}`} of ${messages(done)}`
        : `${TOTAL[command]} ${messages(done)}`;
  return [head, ...[...others].map(([text, n]) => `${messages(n)}: ${text}`)];
}

/** The messages a change acts on: the ids named, or those --all/--to/--from/--user/--older-than/--newer-than select (narrowed by --folder/--state). */
async function targetsOf(store: QueueStore, command: AdminVerb, args: string[], o: Record<string, unknown>): Promise<{ ids: string[]; bulk: boolean; to?: string }> {
  const all = o.all === true;
  const to = typeof o.to === 'string' ? recipientSelector(o.to) : undefined;
  const from = typeof o.from === 'string' ? senderSelector(o.from) : undefined;
  const user = typeof o.user === 'string' ? userSelector(o.user) : undefined;
  const ages = ageOptions(o);
  const picked = to !== undefined || from !== undefined || user !== undefined || Object.keys(ages).length > 0;
  const bulk = all || picked;
  const narrowed = o.folder !== undefined || o.state !== undefined;
  if (o.yes !== undefined && !(command === 'delete' && all)) throw new UsageError('--yes confirms delete --all only');
  if (!bulk) {
    if (narrowed) throw new UsageError('--folder and --state narrow --all, --to, --from, --user, --older-than or --newer-than; ids are found in any folder');
    if (!args.length) throw new UsageError(`${command} needs queue ids, or --all, --to, --from, --user, --older-than or --newer-than`);
    return { ids: queueIds(args), bulk };
  }
  if (args.length) throw new UsageError(`${command} takes ids or selectors (--all, --to, --from, --user, --older-than, --newer-than), not both`);
  if (all && picked) throw new UsageError('--all selects every message of the folder: give it without --to/--from/--user/--older-than/--newer-than');
  // One typo must not empty the queue: the folder is named, or the admin says yes.
  if (command === 'delete' && all && !narrowed && o.yes !== true) throw new UsageError('delete --all deletes every message of the queue: name the folder or states (--folder F, --state S) or confirm with --yes');
  const { folder, states } = scope(command, folderOption(o.folder), stateOption(o.state));
  const { entries, busy } = await listed(store, folder);
  // --to deletes or requeues only that recipient, or those in that domain; hold, release and flush act on the whole message.
  const keepTo = command === 'delete' || command === 'requeue';
  return { ids: select(entries, { folder, states, to, from, user, ...ages }, busy).map((e) => e.id), bulk, ...(keepTo ? { to } : {}) };
}

/** A flush answers how many messages it made due (0 or 1 for one id): said as the other verbs say it. */
const asResult = (r: AdminResult | number): AdminResult => (typeof r === 'number' ? (r > 0 ? 'done' : 'unchanged') : r);

async function change(store: QueueStore, command: AdminVerb, args: string[], o: Record<string, unknown>, out: Json): Promise<number> {
  const { ids: targets, bulk, to } = await targetsOf(store, command, args, o);
  const owner = await queueActions(store);
  const results: Record<string, AdminResult | 'error'> = {};
  let errors: Record<string, string>;
  try {
    // One message that fails (a full disk) must not hide what was done to the others, nor stop the rest.
    const reply = await actOnEach(owner.actions, command, targets, { to });
    errors = reply.errors;
    // In the order the ids were named or selected (oldest first), whatever order the gateway finished them in.
    for (const id of targets) results[id] = Object.hasOwn(errors, id) ? 'error' : asResult(reply.results[id]);
  } finally { owner.release(); }
  const failed = Object.keys(errors).length > 0;
  out({ results, via: owner.live ? 'gateway' : 'files', ...(failed ? { errors } : {}) }, () => {
    if (!targets.length) { console.log('no matching message'); return; }
    if (!bulk || o.verbose === true) for (const [id, r] of Object.entries(results)) if (r !== 'error') console.log(`${id}: ${resultText(command, r, to)}`);
    if (bulk) for (const line of totalLines(command, results, to)) console.log(line);
  });
  for (const [id, message] of Object.entries(errors)) console.error(`${id}: ${command} failed: ${message}`);
  // A selected message that left its folder before its turn (delivered, expired) is counted, not a failure: the
  // selection was a snapshot. Named ids must each end as asked.
  if (bulk) return failed ? 1 : 0;
  return failed || Object.values(results).some((r) => r !== 'error' && !achieved(command, r)) ? 1 : 0;
}

/**
 * Whether a message ended as the command asked, so the exit code says what happened. An unchanged hold or release
 * (already held, already scheduled) is what was asked; a hold or delete that found the message delivered meanwhile is
 * not, a release is; a requeue of a message that is not dead-lettered did nothing (flush is the verb for it).
 */
function achieved(command: AdminVerb, r: AdminResult): boolean {
  if (r === 'missing' || r === 'dead-letter' || r === 'quarantine') return false;
  if (r === 'delivered') return command === 'release';
  if (r === 'unchanged') return command !== 'requeue';
  return true;
}

const RECIPIENT_DONE = { release: 'released to', delete: 'deleted for' } as const;

/** `release|delete ID --recipient ADDRESS`: one recipient of one quarantined message. */
async function forRecipient(store: QueueStore, command: 'release' | 'delete', args: string[], o: Record<string, unknown>, out: Json): Promise<number> {
  const address = String(o.recipient).trim().replace(/^<(.*)>$/, '$1');
  if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw new UsageError(`--recipient takes an address, not ${JSON.stringify(o.recipient)}`);
  if (['to', 'from', 'user', 'all', 'folder', 'state', 'yes'].some((k) => o[k] !== undefined)) throw new UsageError('--recipient takes one queue id and no --to, --from, --user, --all, --folder, --state or --yes');
  const ids = queueIds(args);
  if (ids.length !== 1) throw new UsageError(`${command} --recipient takes one queue id`);
  const [id] = ids;
  const owner = await queueActions(store);
  let result: AdminResult;
  try {
    // Without a gateway, this process holds queue.lock and edits the files, noting each edit for the next start's log.
    const actions = owner.actions;
    const run = command === 'release' ? actions.releaseForRecipient : actions.deleteForRecipient;
    if (!run) throw new Error(`${command} --recipient is not available`);
    result = await run.call(actions, id, address);
  } finally { owner.release(); }
  const text = result === 'done' ? `${RECIPIENT_DONE[command]} <${t(address)}>`
    : result === 'missing' ? 'not in the quarantine' : `<${t(address)}> is not a recipient still held in the quarantine for this message`;
  out({ results: { [id]: result }, via: owner.live ? 'gateway' : 'files' }, () => console.log(`${id}: ${text}`));
  return result === 'done' ? 0 : 1;
}

/** `--shape`: the waiting messages per domain and age bucket (qshape), read as `list` reads them. */
async function shape(positionals: string[], o: Record<string, unknown>, out: Json): Promise<number> {
  if (positionals.length) throw new UsageError(`--shape takes no command (${JSON.stringify(positionals[0])})`);
  const given = ['folder', 'state', 'to', 'from', 'user', 'older-than', 'newer-than', 'all', 'yes', 'recipient', 'verbose'].filter((k) => o[k] !== undefined);
  if (given.length) throw new UsageError(`--${given[0]} does not apply to --shape`);
  const by = o.by ?? 'recipient';
  if (by !== 'recipient' && by !== 'sender') throw new UsageError(`--by takes recipient or sender, not ${JSON.stringify(by)}`);
  if (o.top !== undefined && !/^[1-9]\d{0,8}$/.test(String(o.top))) throw new UsageError(`--top takes a whole number of domains above 0, not ${JSON.stringify(o.top)}`);
  const top = o.top === undefined ? undefined : Number(o.top);
  const store = new QueueStore(await dataDir(o as { 'data-dir'?: string; config?: string; set?: string[] }));
  const result = queueShape((await listed(store, 'queue')).entries, { by, top });
  out(result, () => { for (const line of shapeLines(result)) console.log(line); });
  return 0;
}

async function dispatch(command: string, args: string[], o: Record<string, unknown>, out: Json): Promise<number> {
  const known = ['list', 'overview', 'show', 'flush', 'hold', 'release', 'delete', 'requeue'];
  if (!known.includes(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (command === 'list' && args.length) throw new UsageError('list takes no argument (--folder F or --state S picks the folder)');
  if (command === 'overview' && args.length) throw new UsageError('overview takes no argument');
  if (command === 'show' || command === 'overview') {
    const given = ['folder', 'state', 'to', 'from', 'user', 'older-than', 'newer-than', 'all', 'yes'].filter((k) => o[k] !== undefined);
    if (given.length) throw new UsageError(`--${given[0]} does not apply to ${command}`);
  }
  if (o.recipient !== undefined && command !== 'release' && command !== 'delete') throw new UsageError(`--recipient applies to release and delete only`);
  const store = new QueueStore(await dataDir(o as { 'data-dir'?: string; config?: string; set?: string[] }));
  const selects = ['all', 'to', 'from', 'user', 'older-than', 'newer-than', 'folder', 'state', 'yes'].some((k) => o[k] !== undefined);
  switch (command) {
    case 'list': return list(store, o, out);
    case 'overview': { const rows = overview((await listed(store, 'queue')).entries); out(rows, () => printOverview(rows)); return 0; }
    case 'show': return show(store, args, out);
    // `flush` alone makes every deferred message due in one request; with selectors it acts on those it picks.
    case 'flush': return selects ? change(store, 'flush', args, o, out) : flush(store, args, out);
    case 'release': case 'delete':
      if (o.recipient !== undefined) return forRecipient(store, command, args, o, out);
      return change(store, command, args, o, out);
    default: return change(store, command as AdminVerb, args, o, out);
  }
}

export async function run(argv: string[]): Promise<number> {
  // The reading every moat command shares: a line that does not parse gets the usage and 64, --help the usage and 0.
  const parsed = readCommand(argv, OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const o = parsed.values;
  const [command, ...args] = parsed.positionals;
  if (!command && !o.shape) { console.error(USAGE); return USAGE_ERROR; }
  const out: Json = (value, text) => { if (o.json) console.log(JSON.stringify(value, null, 2)); else text(); };
  const name = o.shape ? '--shape' : command;
  try {
    if (o.shape) return await shape(parsed.positionals, o, out);
    if (o.by !== undefined || o.top !== undefined) throw new UsageError(`--${o.by !== undefined ? 'by' : 'top'} goes with --shape`);
    return await dispatch(command, args, o, out);
  } catch (e) {
    if (e instanceof UsageError || e instanceof SelectorError) { console.error(`moat queue ${name}: ${e.message} (moat queue --help shows the usage)`); return USAGE_ERROR; }
    // A config error lists each problem on its own line, with the key it concerns.
    if (e instanceof ConfigError) { console.error(e.message); return 1; }
    const denied = isAccessError(e);
    console.error(`moat queue ${name}: ${(e as Error).message}${denied ? " (run it as the gateway's user or root)" : ''}`);
    return 1;
  }
}

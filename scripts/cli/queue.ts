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
import { domainArg, domainOf } from '../../core/queue/actions.ts';
import { folderHolding, type AdminResult } from '../../core/queue/admin-ops.ts';
import { decodeWords } from '../../core/text/encoded-words.ts';

const USAGE = `usage: moat queue <command> [--config FILE [--set KEY=VALUE]… | --data-dir DIR] [--json]

  list [--folder queue|deadletter|quarantine]   id, age, state, sender, recipients (with where each stands once
                                                it is delivered or failed, and the reply that failed it),
                                                attempts, next attempt, last reply, and in the quarantine
                                                why each message is held; states: active (being
                                                delivered now), due (waiting for a relay worker, or for the
                                                gateway's start), deferred, held, dead, quarantined
  show ID                                       envelope, headers, delivery history (any folder)
  flush [ID]                                    retry now: one message or every deferred one
  delete ID… | --to DOMAIN | --from ADDRESS [--folder F]
                                                delete messages (an ID is found in any folder; --to: only
                                                their recipients in DOMAIN; --from '<>' matches bounces;
                                                --folder, with --to/--from only: queue by default)
  hold ID…                                      stop delivering until released
  release ID…                                   deliver again, now; a quarantined message is delivered as
                                                it was stored (verdict headers kept, not scanned again)
                                                with an X-Mailmoat-Released header
  release ID --recipient ADDRESS                deliver a quarantined message to that one recipient only;
                                                the others stay in the quarantine
  delete ID --recipient ADDRESS                 drop that one recipient of a quarantined message (the
                                                message goes once no recipient is left)
  requeue ID… | --to DOMAIN | --from ADDRESS | --all
                                                put dead-lettered messages back in the queue, due now: their
                                                failed recipients (--to: only those in DOMAIN) are tried again
                                                on a fresh retry schedule and lifetime; delivered ones are not
                                                sent again (as postsuper -r)
  overview                                      messages and oldest age per destination domain

With a gateway running on the data_dir, flush/hold/release/requeue/delete go through its control socket
(data_dir/control.sock), so they never race with the relay workers; without one they edit the files
(under data_dir/queue.lock: the gateway does not start until they are done).
An action on a message being delivered waits for that attempt, and says so when it delivered the message.
Exit code: 0 done (or already so: held, scheduled, due); 1 a message was not found, or the command does not apply
to it (flush of a held one: release; requeue of one in the queue: flush; delete or hold of one delivered while it
waited), or an error; 64 usage error.`;

const OPTIONS = {
  ...CONFIG_OPTIONS, 'data-dir': { type: 'string' }, json: { type: 'boolean' },
  folder: { type: 'string' }, to: { type: 'string' }, from: { type: 'string' }, all: { type: 'boolean' },
  recipient: { type: 'string' },
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

/** A row's recipients as listed, each one no longer pending marked with where it stands (delivered, failed…). */
function recipientsText(r: ListRow): string {
  const status = new Map(r.recipientStatus.map((s) => [s.address, s]));
  return r.recipients.map((a) => {
    const s = status.get(a);
    if (!s || s.status === 'pending') return t(a);
    // A released recipient's copy is a message of its own: its id says where to follow it.
    return s.status === 'released' && s.reply ? `${t(a)} (released, ${t(s.reply)})` : `${t(a)} (${s.status})`;
  }).join(', ');
}

function printList(rows: ListRow[], folder: QueueFolder): void {
  if (!rows.length) { console.log(`${folder} is empty`); return; }
  for (const r of rows) {
    // The reply that failed each recipient: in dead-letter they may differ, and a delivered one needs none.
    const failed = r.recipientStatus.filter((s) => s.status === 'failed');
    console.log(`${r.id}  ${age(r.age).padStart(4)}  ${r.state.padEnd(11)}  <${t(r.sender)}> -> ${recipientsText(r)}`);
    console.log(`    size ${r.size}  attempts ${r.attempts}  next ${r.state === 'deferred' ? iso(r.nextAttempt) : '-'}${r.lastReply && !failed.length ? `  last: ${t(r.lastReply)}` : ''}`);
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
  for (const r of rows) console.log(`${t(r.domain).padEnd(32)} ${String(r.messages).padStart(8)} ${String(r.recipients).padStart(6)} ${age(r.oldest).padStart(6)} ${String(r.deferred).padStart(8)} ${String(r.held).padStart(5)}`);
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

function folderOption(value: string | undefined): QueueFolder {
  const folder = (value ?? 'queue') as QueueFolder;
  if (!FOLDERS.includes(folder)) throw new UsageError(`unknown folder ${JSON.stringify(value)} (queue, deadletter or quarantine)`);
  return folder;
}

function domainOption(value: string): string {
  const d = domainArg(value.trim());
  if (!d || d.includes('@')) throw new UsageError(`--to takes a domain, not ${JSON.stringify(value)}`);
  return d;
}

/** A sender as the envelope holds it; `<>` and '' are the null sender of bounces. */
const senderOption = (value: string) => value.trim().replace(/^<(.*)>$/, '$1').toLowerCase();

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

async function list(store: QueueStore, folder: QueueFolder, out: Json): Promise<number> {
  const { entries, busy } = await listed(store, folder);
  const rows = entries.map((e) => listRow(e, folder, busy));
  out(rows, () => printList(rows, folder));
  return 0;
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

const DONE: Record<string, string> = { delete: 'deleted', hold: 'held', release: 'released', requeue: 'requeued: its failed recipients are due now' };

function resultText(command: string, r: AdminResult, to?: string): string {
  if (r === 'done') {
    if (command === 'delete' && to) return `its recipients in ${to} deleted (the message goes once none is left)`;
    if (command === 'requeue' && to) return `requeued: its failed recipients in ${to} are due now`;
    return DONE[command];
  }
  if (r === 'missing') return 'not found in the queue, the quarantine or the dead-letter folder';
  if (r === 'delivered') return `being delivered when the ${command} came: delivered while the ${command} waited, nothing left to ${command}`;
  if (r === 'dead-letter') return 'in the dead-letter folder: requeue delivers it again, delete removes it';
  if (r === 'quarantine') return 'in quarantine: use release';
  if (command === 'hold') return 'already held, or quarantined (not delivered until released)';
  if (command === 'release') return 'not held: already scheduled';
  if (command === 'requeue') return to ? `no failed recipient in ${to}` : 'not dead-lettered: it is still in the queue (flush retries it now)';
  return to ? `no pending recipient in ${to}` : 'no change';
}

/**
 * The messages of `folder` from `from` (when given) with a recipient still to do in `to` (when given): a pending one,
 * or in dead-letter a failed one (delivered recipients are done wherever they are).
 */
async function selectByEnvelope(store: QueueStore, folder: QueueFolder, to?: string, from?: string): Promise<string[]> {
  const open = folder === 'deadletter' ? 'failed' : 'pending';
  const openIn = (e: ListedEntry, d: string) => e.recipients.some((r) => r.status === open && domainOf(r.address) === d);
  return (await listed(store, folder)).entries
    .filter((e) => (from === undefined || e.mailFrom.toLowerCase() === from) && (to === undefined || openIn(e, to)))
    .map((e) => e.id);
}

type Change = 'hold' | 'release' | 'delete' | 'requeue';

/** The messages a change acts on: the ids named, or those --to/--from/--all select (requeue: in dead-letter). */
async function targetsOf(store: QueueStore, command: Change, args: string[], o: Record<string, unknown>, to?: string, from?: string): Promise<string[]> {
  const all = o.all === true;
  const bulk = to !== undefined || from !== undefined || all;
  if (all && command !== 'requeue') throw new UsageError('--all selects dead-lettered messages for requeue only');
  if (all && (to !== undefined || from !== undefined)) throw new UsageError('--all selects every dead-lettered message: give it without --to/--from');
  if (bulk && command !== 'delete' && command !== 'requeue') throw new UsageError('--to and --from select messages for delete and requeue only');
  if (bulk && args.length) throw new UsageError(`${command} takes ids or ${command === 'requeue' ? '--to/--from/--all' : '--to/--from'}, not both`);
  if (!bulk && !args.length) throw new UsageError(`${command} needs at least one queue id`);
  if (o.folder !== undefined && command === 'requeue') throw new UsageError('requeue acts on the dead-letter folder: --folder does not apply');
  if (o.folder !== undefined && !bulk) throw new UsageError('--folder selects messages for list and for delete --to/--from; ids are found in any folder');
  if (!bulk) return queueIds(args);
  return selectByEnvelope(store, command === 'requeue' ? 'deadletter' : folderOption(o.folder as string | undefined), to, from);
}

async function change(store: QueueStore, command: Change, args: string[], o: Record<string, unknown>, out: Json): Promise<number> {
  const to = typeof o.to === 'string' ? domainOption(o.to) : undefined;
  const from = typeof o.from === 'string' ? senderOption(o.from) : undefined;
  const targets = await targetsOf(store, command, args, o, to, from);
  const owner = await queueActions(store);
  const results: Record<string, AdminResult | 'error'> = {};
  let errors: Record<string, string>;
  try {
    // One message that fails (a full disk) must not hide what was done to the others, nor stop the rest.
    // --to always removes only the recipients in that domain, with or without --from: the others are still delivered.
    const reply = await actOnEach(owner.actions, command, targets, { to });
    errors = reply.errors;
    // In the order the ids were named or selected (oldest first), whatever order the gateway finished them in.
    for (const id of targets) results[id] = Object.hasOwn(errors, id) ? 'error' : reply.results[id] as AdminResult;
  } finally { owner.release(); }
  const failed = Object.keys(errors).length > 0;
  out({ results, via: owner.live ? 'gateway' : 'files', ...(failed ? { errors } : {}) }, () => {
    for (const [id, r] of Object.entries(results)) if (r !== 'error') console.log(`${id}: ${resultText(command, r, to)}`);
    if (!targets.length) console.log('no matching message');
  });
  for (const [id, message] of Object.entries(errors)) console.error(`${id}: ${command} failed: ${message}`);
  return failed || Object.values(results).some((r) => r !== 'error' && !achieved(command, r)) ? 1 : 0;
}

/**
 * Whether a message ended as the command asked, so the exit code says what happened. An unchanged hold or release
 * (already held, already scheduled) is what was asked; a hold or delete that found the message delivered meanwhile is
 * not, a release is; a requeue of a message that is not dead-lettered did nothing (flush is the verb for it).
 */
function achieved(command: Change, r: AdminResult): boolean {
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
  if (o.to !== undefined || o.from !== undefined || o.all !== undefined || o.folder !== undefined) throw new UsageError('--recipient takes one queue id and no --to, --from, --all or --folder');
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

async function dispatch(command: string, args: string[], o: Record<string, unknown>, out: Json): Promise<number> {
  const known = ['list', 'overview', 'show', 'flush', 'hold', 'release', 'delete', 'requeue'];
  if (!known.includes(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (command === 'list' && args.length) throw new UsageError('list takes no argument (--folder F picks the folder)');
  if (command === 'overview' && args.length) throw new UsageError('overview takes no argument');
  if (o.folder !== undefined && !['list', 'delete', 'requeue'].includes(command)) throw new UsageError(`--folder does not apply to ${command}`);
  if (o.recipient !== undefined && command !== 'release' && command !== 'delete') throw new UsageError(`--recipient applies to release and delete only`);
  const store = new QueueStore(await dataDir(o as { 'data-dir'?: string; config?: string; set?: string[] }));
  switch (command) {
    case 'list': return list(store, folderOption(o.folder as string | undefined), out);
    case 'overview': { const rows = overview((await listed(store, 'queue')).entries); out(rows, () => printOverview(rows)); return 0; }
    case 'show': return show(store, args, out);
    case 'flush': return flush(store, args, out);
    case 'release': case 'delete':
      if (o.recipient !== undefined) return forRecipient(store, command, args, o, out);
      return change(store, command, args, o, out);
    default: return change(store, command as Change, args, o, out);
  }
}

export async function run(argv: string[]): Promise<number> {
  // The reading every moat command shares: a line that does not parse gets the usage and 64, --help the usage and 0.
  const parsed = readCommand(argv, OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const o = parsed.values;
  const [command, ...args] = parsed.positionals;
  if (!command) { console.error(USAGE); return USAGE_ERROR; }
  const out: Json = (value, text) => { if (o.json) console.log(JSON.stringify(value, null, 2)); else text(); };
  try {
    return await dispatch(command, args, o, out);
  } catch (e) {
    if (e instanceof UsageError) { console.error(`moat queue ${command}: ${e.message} (moat queue --help shows the usage)`); return USAGE_ERROR; }
    // A config error lists each problem on its own line, with the key it concerns.
    if (e instanceof ConfigError) { console.error(e.message); return 1; }
    const denied = ['EACCES', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '');
    console.error(`moat queue ${command}: ${(e as Error).message}${denied ? " (run it as the gateway's user or root)" : ''}`);
    return 1;
  }
}

// The running gateway's end of the control channel: `moat queue` asks it to flush, hold, release, requeue or delete,
// so the relay workers see each change at once and never race with a file edited behind their back; `moat reload`
// asks it to reload its config file and gets the outcome, which a SIGHUP leaves in the log only.
import net from 'node:net';
import { unlink } from 'node:fs/promises';
import type { Logger } from '../log/types.ts';
import type { DeliveryQueue } from '../queue/delivery-queue.ts';
import { QueueStore } from '../queue/queue-store.ts';
import { FolderAwareActions, runAdminAction, type AdminActions, type AdminResult } from '../queue/admin-ops.ts';
import { listWithScheduled } from '../queue/inspect.ts';
import { forEachBounded } from '../queue/for-each-bounded.ts';
import { selectionFields } from '../queue/actions.ts';
import type { QueueFolder } from '../queue/queue-store.ts';
import type { QueueEntry } from '../queue/entry.ts';
import { enteredFolderAt } from '../queue/entry-times.ts';
import type { DigestOptions, DigestReport } from '../quarantine/digest.ts';
import type { ReleasedBy } from '../quarantine/released-copy.ts';
import type { CheckReport } from '../smtp/check-transaction.ts';
import {
  BULK_IDS_MAX, CHECK_LINE_START, SOCKET_PATH_MAX, queueIdProblem, socketPath,
  type BulkAction, type CheckRequest, type BulkReply, type ControlReply, type ControlRequest, type ControlStatus, type ListReply, type ReloadReport,
} from './protocol.ts';
import { describeHolder, tryLock, type HolderState, type LockHolder } from './queue-lock.ts';

/**
 * `path` is undefined when the gateway runs without a socket (then `moat queue` only reads the queue). Requests that
 * change messages wait for `open()`, which the gateway calls once it has recovered its queue.
 */
export interface ControlServer {
  path: string | undefined;
  open(): void;
  close(): Promise<void>;
  /**
   * Deletes the messages of `folder` that entered it before `before` (ms since the epoch), each after any admin
   * action on it has finished, so a release and an expiry never both act on one message; returns their ids.
   */
  expire(folder: 'quarantine' | 'deadletter', before: number, stopping?: () => boolean): Promise<string[]>;
  /**
   * Releases a quarantined message to one recipient, or deletes it for them, in turn with every other action on that
   * message (the quarantine web pages call it in the gateway's process; `moat queue … --recipient` through the socket).
   */
  forRecipient(action: RecipientAction, id: string, address: string, by: ReleasedBy): Promise<AdminResult>;
}

export type RecipientAction = 'release' | 'delete';

const MAX_LINE = 64 * 1024;

/** What else the gateway answers on the control channel. */
export interface ControlExtras {
  metrics?: () => Record<string, unknown>;
  /** Reloads the config file, in turn with SIGHUP's reloads; resolves with the outcome, a refusal included. */
  reload?: () => Promise<ReloadReport>;
  /** Runs a quarantine digest now (the schedule's runNow), for `moat quarantine digest`. */
  digest?: (opts: DigestOptions) => Promise<DigestReport>;
  /**
   * Starts the stop SIGTERM starts, and returns at once: the stop closes this socket, which waits for the answer to
   * each request it took, so a request that waited for the stop would never be answered.
   */
  stop?: () => void;
  /**
   * Runs a message through the live chain and keeps nothing (`moat check`). `maxMessageSize` is the running
   * limits.max_message_size, which bounds the request line of a check.
   */
  check?: { run: (req: CheckRequest) => Promise<CheckReport>; maxMessageSize: () => number };
}

interface Context {
  delivery: DeliveryQueue; store: QueueStore; actions: AdminActions; extras: ControlExtras; log: Logger; perMessage: KeyedSerial;
  /** Settles once the queue is recovered (or rejects when the gateway stops first). */
  recovered: Promise<void>;
}

/**
 * Runs the tasks given for one key one after another. Two admins acting on one message at once (a release and a
 * delete, or the same release twice) would otherwise both read its state and both move or rewrite it.
 */
class KeyedSerial {
  private readonly tails = new Map<string, Promise<unknown>>();
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).catch(() => undefined).then(task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key); });
    return result;
  }
}

function queueId(v: unknown): string {
  const problem = queueIdProblem(v);
  if (problem) throw new Error(problem);
  return v as string;
}

/** One action on one message, after any other action on it has finished. */
function act(action: BulkAction, id: string, to: string | undefined, c: Context): Promise<AdminResult | number> {
  return c.perMessage.run<AdminResult | number>(id, () => runAdminAction(c.actions, action, id, { to }));
}

/** One recipient's release or delete of a quarantined message, after any other action on the message has finished. */
function forRecipient(action: RecipientAction, id: string, address: unknown, by: ReleasedBy, c: Context): Promise<AdminResult> {
  if (typeof address !== 'string' || !address.includes('@')) return Promise.reject(new Error('a recipient address is required'));
  if (action !== 'release' && action !== 'delete') return Promise.reject(new Error(`unknown recipient action ${JSON.stringify(action)}`));
  const a = c.actions;
  return c.perMessage.run(queueId(id), () => {
    const run = action === 'release' ? a.releaseForRecipient?.bind(a) : a.deleteForRecipient?.bind(a);
    if (!run) throw new Error(`${action} for one recipient is not available here`);
    return run(id, address, by);
  });
}

/**
 * Actions on one bulk request's messages at once. One request per id cost a round trip each (2,000 ids: 80-95 s
 * while the relay workers retried a big queue); requests pipelined on one connection would still be answered one
 * after another, so the server itself runs a few at a time: their state-file writes share the thread pool and their
 * directory fsyncs share a group commit (dir-sync.ts), while the rest of the pool stays free for the fsyncs of mail
 * being accepted meanwhile.
 */
const BULK_IN_FLIGHT = 8;

const BULK_ACTIONS: readonly BulkAction[] = ['flush', 'hold', 'release', 'delete', 'requeue'];

/**
 * Each message's result or error, never one for the whole list: a message that fails (a full disk, a bad id) does not
 * stop the others. Each still gets its own `control request` line, the admin trail of a change made live.
 */
async function bulk(req: Extract<ControlRequest, { op: 'bulk' }>, c: Context): Promise<BulkReply> {
  if (!BULK_ACTIONS.includes(req.action)) throw new Error(`unknown bulk action ${JSON.stringify(req.action)}`);
  if (!Array.isArray(req.ids) || req.ids.length > BULK_IDS_MAX) throw new Error(`a bulk request takes a list of at most ${BULK_IDS_MAX} ids`);
  const to = typeof req.to === 'string' ? req.to : undefined;
  const ids = [...new Set(req.ids.map(String))];
  const reply: BulkReply = { results: {}, errors: {} };
  await forEachBounded(ids, BULK_IN_FLIGHT, async (id) => {
    try {
      const result = await act(req.action, queueId(id), to, c);
      reply.results[id] = result;
      c.log.info('control request', { op: req.action, qid: id, ...(to ? selectionFields(to) : {}), ...resultFields(result) });
    } catch (e) {
      reply.errors[id] = (e as Error).message;
      c.log.warn('control request failed', { op: req.action, qid: id, error: (e as Error).message });
    }
  });
  return reply;
}

/** A check request as the gateway takes it: the message decoded, the envelope's fields of the right types. */
function check(req: Extract<ControlRequest, { op: 'check' }>, c: Context): Promise<CheckReport> {
  if (!c.extras.check) throw new Error('this gateway does not run checks through the control socket');
  const strings = [req.message, req.from, req.ip, req.helo];
  if (strings.some((v) => typeof v !== 'string') || !Array.isArray(req.to) || req.to.some((v) => typeof v !== 'string')) {
    throw new Error('a check request needs message (base64), from, to (a list), ip and helo');
  }
  return c.extras.check.run(req);
}

async function expire(folder: 'quarantine' | 'deadletter', before: number, c: Context, stopping = () => false): Promise<string[]> {
  await c.recovered;
  const removed: string[] = [];
  for (const listed of await c.store.list(folder)) {
    // A stop does not wait for the rest of a long folder: what is left goes at the next sweep.
    if (stopping()) break;
    if (enteredFolderAt(listed) >= before) continue;
    await c.perMessage.run(listed.id, async () => {
      // Read again under the message's turn: a release that ran meanwhile has taken it out of the folder.
      const e = await c.store.load(listed.id, folder);
      if (!e || enteredFolderAt(e) >= before) return;
      await c.store.remove(e.id, folder);
      removed.push(e.id);
      c.log.info(`expired from ${folder === 'quarantine' ? 'the quarantine' : 'dead-letter'}`, {
        qid: e.id, folder, entered: new Date(enteredFolderAt(e)).toISOString(), from: e.mailFrom, to: e.recipients.map((r) => r.address),
      });
    }).catch((err: Error) => c.log.warn('expiry failed; tried again at the next sweep', { qid: listed.id, folder, error: err.message }));
  }
  return removed;
}

async function list(folder: unknown, c: Context): Promise<ListReply> {
  const f = (folder ?? 'queue') as QueueFolder;
  if (!['queue', 'quarantine', 'deadletter'].includes(f)) throw new Error(`unknown folder ${JSON.stringify(folder)}`);
  const busy = f === 'queue' ? c.delivery.busy : [];
  return { entries: await listWithScheduled(c.store, c.delivery.scheduled(), f), busy };
}

async function handle(req: ControlRequest, c: Context): Promise<unknown> {
  switch (req.op) {
    case 'ping': return 'pong';
    case 'metrics': return c.extras.metrics?.() ?? {};
    case 'status': return { pid: process.pid, busy: c.delivery.busy, scheduled: c.delivery.size } satisfies ControlStatus;
    case 'list': return list(req.folder, c);
    case 'reload': {
      if (!c.extras.reload) throw new Error('this gateway does not reload its config through the control socket; send it SIGHUP');
      return c.extras.reload();
    }
    case 'stop': {
      if (!c.extras.stop) throw new Error('this gateway runs inside another program, which stops it; moat stop only stops one that moat start runs');
      c.extras.stop();
      return 'stopping';
    }
    case 'bulk': return bulk(req, c);
    case 'flush': {
      if (req.id === undefined) return c.actions.flush();
      return act('flush', queueId(req.id), undefined, c);
    }
    case 'hold': return act('hold', queueId(req.id), undefined, c);
    case 'release': return act('release', queueId(req.id), undefined, c);
    case 'delete': return act('delete', queueId(req.id), typeof req.to === 'string' ? req.to : undefined, c);
    case 'requeue': return act('requeue', queueId(req.id), typeof req.to === 'string' ? req.to : undefined, c);
    // Through the socket it is always the administrator: only the gateway's user can reach it.
    case 'recipient': return forRecipient(req.action, req.id, req.address, 'administrator', c);
    case 'check': return check(req, c);
    case 'digest': {
      if (!c.extras.digest) throw new Error('this gateway does not run quarantine digests (quarantine_digest is not wired in)');
      return c.extras.digest({ all: req.all === true, dryRun: req.dryRun === true, ...(typeof req.to === 'string' ? { to: req.to } : {}) });
    }
    default: throw new Error(`unknown op ${JSON.stringify((req as { op?: unknown }).op)}`);
  }
}

/**
 * Answered before the queue is recovered: they show the process, not the queue. A reload touches no message; until
 * the gateway has started it is refused with a reason, as a SIGHUP then is ignored. A stop is taken as SIGTERM is
 * during a start: the gateway stops once started.
 */
const BEFORE_RECOVERY = new Set(['ping', 'status', 'metrics', 'reload', 'stop']);
/**
 * Not logged here: views change nothing, a bulk request logs each of its messages itself, and a check's own lines
 * (`check: true`, its summary line among them) say what it ran.
 */
const UNLOGGED = new Set(['ping', 'status', 'metrics', 'list', 'bulk', 'digest', 'check']);

async function answer(line: string, c: Context): Promise<ControlReply> {
  let req: ControlRequest | undefined;
  try {
    req = JSON.parse(line) as ControlRequest;
    // Before recovery the journal is not taken over yet: a hold would write a state file that recovery then takes
    // for a broken one, and the message would be delivered anyway. A list would show only the held messages.
    if (!BEFORE_RECOVERY.has(req.op)) await c.recovered;
    const result = await handle(req, c);
    if (!UNLOGGED.has(req.op)) c.log.info('control request', { op: req.op, qid: (req as { id?: string }).id, ...recipientFields(req), ...resultFields(result) });
    return { ok: true, result };
  } catch (e) {
    if (req && !UNLOGGED.has(req.op)) c.log.warn('control request failed', { op: req.op, qid: (req as { id?: unknown }).id, error: (e as Error).message });
    return { ok: false, error: (e as Error).message };
  }
}

/**
 * Whom a request names, as fields of its `control request` line: one recipient in `to`, a list as on every line, and
 * a `--to` selection as `domain`, or `to` when it names one address.
 */
function recipientFields(req: ControlRequest): Record<string, unknown> {
  if (req.op === 'recipient') return typeof req.address === 'string' ? { to: [req.address] } : {};
  const to = (req as { to?: unknown }).to;
  return typeof to === 'string' ? selectionFields(to) : {};
}

/**
 * A request's outcome as fields of its `control request` line, each of one type in every line (a typed log store
 * refuses a field that is a string in one line and an object in the next): `result` is always a word (`done`,
 * `missing`, `delivered`…; `reloaded` or `refused` for a reload), a flush of everything adds its `count`, and a
 * reload's lists go in fields of their own, `errors` among them.
 */
export function resultFields(result: unknown): Record<string, unknown> {
  if (typeof result === 'string') return { result };
  if (typeof result === 'number') return { result: 'done', count: result };
  if (result && typeof result === 'object' && 'reloaded' in result) {
    const r = result as ReloadReport;
    if (!r.reloaded) return { result: 'refused', file: r.file, errors: r.errors };
    return { result: 'reloaded', file: r.file, changed: r.changed, restart_only: r.restartOnly, plugins: r.plugins, disabled: r.disabled, warnings: r.warnings };
  }
  return { result: 'done' };
}

/** Entries of a list reply turned into JSON at once; between two slices the event loop serves SMTP and the relay. */
const REPLY_SLICE = 2000;

/** Writes a reply as one line; a long list in slices, so 50,000 entries do not hold the event loop in one stretch. */
async function send(socket: net.Socket, reply: ControlReply): Promise<void> {
  const listed = reply.ok ? (reply.result as Partial<ListReply> | null) : undefined;
  if (!listed || !Array.isArray(listed.entries) || !Array.isArray(listed.busy) || listed.entries.length <= REPLY_SLICE) {
    socket.write(JSON.stringify(reply) + '\n');
    return;
  }
  const { entries, busy } = listed as ListReply;
  socket.write(`{"ok":true,"result":{"busy":${JSON.stringify(busy)},"entries":[`);
  for (let i = 0; i < entries.length && !socket.destroyed; i += REPLY_SLICE) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    socket.write((i > 0 ? ',' : '') + entries.slice(i, i + REPLY_SLICE).map((e) => JSON.stringify(e)).join(','));
  }
  socket.write(']}}\n');
}

/**
 * The longest request line taken: a check carries its message in base64 (4/3 of its size), allowed up to twice
 * limits.max_message_size so that a message a little over the limit is answered with the limit rather than cut off.
 */
function lineLimit(start: string, c: Context): number {
  return c.extras.check && start.startsWith(CHECK_LINE_START) ? 2 * c.extras.check.maxMessageSize() + MAX_LINE : MAX_LINE;
}

/** Serves one connection; its requests are answered in order. Returns when its last request has been answered. */
function serve(socket: net.Socket, c: Context): () => Promise<void> {
  // The line so far in pieces, and only each new piece searched for its end: a check's line can be megabytes.
  let pieces: string[] = [];
  let length = 0;
  /** The first characters of the line so far, which tell a check's line. */
  let head = '';
  /** Why the line being read is over its limit: the rest of it is read and dropped, then this is the answer. */
  let overLimit: string | undefined;
  let chain = Promise.resolve();
  const reply = (answered: () => Promise<ControlReply>) => {
    chain = chain.then(async () => {
      const r = await answered();
      if (!socket.destroyed) await send(socket, r);
    });
  };
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (d: string) => {
    let rest = d;
    for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n')) {
      pieces.push(rest.slice(0, i));
      const line = pieces.join('');
      const error = overLimit;
      pieces = [];
      length = 0;
      head = '';
      overLimit = undefined;
      rest = rest.slice(i + 1);
      // Answered rather than cut off, so that the CLI can say why.
      reply(error === undefined ? () => answer(line, c) : async () => ({ ok: false, error }));
    }
    if (!rest) return;
    if (overLimit !== undefined) return;
    pieces.push(rest);
    length += rest.length;
    if (head.length < CHECK_LINE_START.length) head = (head + rest).slice(0, CHECK_LINE_START.length);
    const limit = length > MAX_LINE ? lineLimit(head, c) : MAX_LINE;
    if (length <= limit) return;
    pieces = [];
    overLimit = limit > MAX_LINE ? `the message is larger than limits.max_message_size (${c.extras.check!.maxMessageSize()} bytes)` : 'request line too long';
  });
  return () => chain;
}

/** True when something answers on the socket (another gateway on the same data_dir). */
function answers(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a start waits for a `moat queue` whose pid exists but cannot be checked (no /proc) before it goes on. */
const UNVERIFIED_WAIT_MS = 30_000;

/**
 * Whose queue.lock a starting gateway removes: a dead holder's; its own process's (an earlier gateway in it that was
 * never stopped); an unverifiable gateway's, since its socket did not answer (a pid reused after a reboot must not keep
 * mail out); an unverifiable `moat queue`'s after UNVERIFIED_WAIT_MS.
 */
function mayTakeOver(holder: LockHolder, state: HolderState, since: number, clog: Logger): boolean {
  if (state === 'dead' || holder.pid === process.pid) return true;
  if (state === 'alive') return false;
  const take = holder.role === 'gateway' || Date.now() - since > UNVERIFIED_WAIT_MS;
  if (take) clog.warn('taking over a queue.lock whose holder cannot be checked', { pid: holder.pid, role: holder.role });
  return take;
}

/**
 * Takes data_dir/queue.lock for the gateway's life, waiting for a `moat queue` that is editing the files to finish
 * (its edits and this start's recovery of the journal must not interleave). Returns its release.
 */
async function takeQueueLock(dataDir: string, clog: Logger): Promise<() => void> {
  const since = Date.now();
  let told = false;
  for (;;) {
    let attempt;
    try { attempt = tryLock(dataDir, 'gateway', (holder, state) => mayTakeOver(holder, state, since, clog)); } catch (e) {
      // A read-only or full data_dir: the gateway itself will say what fails; the lock must not be what stops it.
      clog.warn('cannot write the queue lock; moat queue may edit files while the gateway starts', { error: String(e) });
      return () => undefined;
    }
    if (attempt.acquired) return attempt.release;
    if (attempt.holder.role === 'gateway') throw new Error(`another gateway is already running on this data_dir (${describeHolder(attempt.holder)} holds its queue.lock)`);
    if (!told) clog.warn('waiting for moat queue to finish editing the queue files', { pid: attempt.holder.pid });
    told = true;
    await sleep(100);
  }
}

/**
 * Binds `server` to the socket `file`, mode 0600 from its creation: `moat check --user` asks no password because only
 * the gateway's user can connect, so the socket must never have the umask's mode, as it had until a chmod after
 * listen. Node binds a socket file within the listen() call, so the umask is the process's own again before any
 * other code runs.
 */
export function listenOwnerOnly(server: net.Server, file: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const umask = process.umask(0o177);
    try { server.listen(file, () => resolve()); } finally { process.umask(umask); }
  });
}

async function listen(file: string, c: Context, clog: Logger): Promise<{ server: net.Server; connections: Map<net.Socket, () => Promise<void>> } | undefined> {
  if (Buffer.byteLength(file) > SOCKET_PATH_MAX) {
    clog.warn('data_dir path too long for the control socket; moat queue can only read the queue while the gateway runs', { path: file });
    return undefined;
  }
  await unlink(file).catch(() => undefined);
  const connections = new Map<net.Socket, () => Promise<void>>();
  const server = net.createServer((s) => {
    connections.set(s, serve(s, c));
    s.once('close', () => connections.delete(s));
  });
  try {
    await listenOwnerOnly(server, file);
  } catch (e) {
    clog.warn('cannot open the control socket; moat queue can only read the queue while the gateway runs', { path: file, error: String(e) });
    server.close();
    return undefined;
  }
  server.unref();
  return { server, connections };
}

/**
 * Refuses a data_dir another gateway runs on, and takes its queue.lock; returns the lock's release. A start does this
 * before it writes anything there, so a refused one leaves the running gateway's files (its certificate) as they were.
 */
export async function claimDataDir(dataDir: string, log: Logger): Promise<() => void> {
  const file = socketPath(dataDir);
  if (Buffer.byteLength(file) <= SOCKET_PATH_MAX && await answers(file)) {
    // Two gateways on one queue would both deliver every message: refuse to start.
    throw new Error(`another gateway is already running on this data_dir (${file} answers)`);
  }
  return takeQueueLock(dataDir, log.child({ component: 'control' }));
}

/** Listens on data_dir/control.sock, holding data_dir/queue.lock until close(); `claimed`: the release claimDataDir gave. */
export async function startControl(dataDir: string, delivery: DeliveryQueue, log: Logger, extras: ControlExtras = {}, claimed?: () => void): Promise<ControlServer> {
  const file = socketPath(dataDir);
  const clog = log.child({ component: 'control' });
  const releaseLock = claimed ?? await claimDataDir(dataDir, log);
  let c: Context;
  let opened = false;
  let open!: () => void;
  let refuse!: (e: Error) => void;
  const recovered = new Promise<void>((resolve, reject) => { open = resolve; refuse = reject; });
  recovered.catch(() => undefined);
  try {
    // A store of its own for the quarantine and dead-letter folders, which the delivery queue does not handle.
    const store = new QueueStore(dataDir);
    // The delivery queue's counters: a release from the quarantine or a requeue counts in `moat metrics` as a release
    // from hold does.
    const actions = new FolderAwareActions(delivery, store, { schedule: (e) => delivery.add(e), log: clog, counters: delivery.counters });
    c = { delivery, store, actions, extras, log: clog, perMessage: new KeyedSerial(), recovered };
  } catch (e) {
    releaseLock();
    throw e;
  }
  const listening = await listen(file, c, clog);
  return {
    path: listening ? file : undefined,
    open() { opened = true; open(); },
    expire: (folder, before, stopping) => expire(folder, before, c, stopping),
    forRecipient: async (action, id, address, by) => {
      await c.recovered;
      return forRecipient(action, id, address, by, c);
    },
    async close() {
      if (!opened) refuse(new Error('the gateway stopped before its queue was recovered; run the command again'));
      // Answer until the relay workers have stopped: a `moat queue` that found no socket would edit the files
      // while a delivery in progress still writes them.
      await delivery.stop();
      if (listening) {
        const closed = new Promise<void>((r) => listening.server.close(() => r()));
        for (const [socket, answered] of listening.connections) void answered().then(() => socket.destroy());
        await closed;
        await unlink(file).catch(() => undefined);
      }
      releaseLock();
    },
  };
}

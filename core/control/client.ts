// The CLI's end of the control channel, and the choice between acting through a running gateway or on the files.
import net from 'node:net';
import { FileQueueActions } from '../queue/file-actions.ts';
import { FolderAwareActions, runAdminAction, type AdminActions, type AdminResult } from '../queue/admin-ops.ts';
import { TrailedActions } from '../queue/admin-trail.ts';
import { returnOwnership } from '../queue/ownership.ts';
import type { QueueFolder, QueueStore } from '../queue/queue-store.ts';
import {
  BULK_IDS_MAX, socketPath, type BulkAction, type CheckRequest, type BulkReply, type ControlReply, type ControlRequest, type ControlStatus, type ListReply,
  type ReloadReport,
} from './protocol.ts';
import type { DigestOptions, DigestReport } from '../quarantine/digest.ts';
import type { CheckReport } from '../smtp/check-transaction.ts';
import { describeHolder, lockPath, tryLock, type HolderState, type LockHolder } from './queue-lock.ts';

export class NoGatewayError extends Error {}

function parseReply(line: string): ControlReply {
  try { return JSON.parse(line) as ControlReply; } catch { return { ok: false, error: `the control socket answered something else than a reply: ${line.slice(0, 80)}` }; }
}

function connectError(file: string, e: NodeJS.ErrnoException): Error {
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') return new NoGatewayError('no gateway is running on this data_dir');
  if (e.code === 'EACCES') return new Error(`permission denied on ${file}: run as the gateway's user or root`);
  return e;
}

/** Sends one request; throws NoGatewayError when nothing listens on the socket. */
export function controlRequest(file: string, req: ControlRequest, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file);
    // A list reply can be megabytes: chunks are joined once, and only each new chunk is searched for the line's end.
    const chunks: string[] = [];
    const late = ['ping', 'status', 'metrics', 'list', 'check'].includes(req.op) ? ''
      : req.op === 'reload' || req.op === 'stop' ? '; it may still carry it out (its log tells)' : '; it may still carry it out (moat queue show tells)';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`the gateway did not answer ${req.op} within ${timeoutMs / 1000} s${late}`)); }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (d: string) => {
      const i = d.indexOf('\n');
      chunks.push(i < 0 ? d : d.slice(0, i));
      if (i < 0) return;
      clearTimeout(timer);
      s.end();
      const reply = parseReply(chunks.join(''));
      if (reply.ok) resolve(reply.result); else reject(new Error(reply.error));
    });
    s.once('close', () => { clearTimeout(timer); reject(new Error(`the gateway closed the control connection before answering ${req.op} (is it stopping?)`)); });
    s.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); reject(connectError(file, e)); });
  });
}

/**
 * How long a change may take: the gateway first waits for a delivery of that message in progress, which its relay
 * timeout bounds per command (a minute by default), so a shorter wait would report a failure it then carries out.
 */
const CHANGE_TIMEOUT_MS = 10 * 60_000;

/**
 * How long a reload may take: it starts every plugin anew (a Bayes dictionary, a Haraka folder, a worker thread each)
 * and waits for a reload already under way.
 */
const RELOAD_TIMEOUT_MS = 5 * 60_000;

/** Asks the gateway listening on `file` to reload its config file; throws NoGatewayError when none listens. */
export function requestConfigReload(file: string, timeoutMs = RELOAD_TIMEOUT_MS): Promise<ReloadReport> {
  return controlRequest(file, { op: 'reload' }, timeoutMs) as Promise<ReloadReport>;
}

/**
 * Asks the gateway listening on `file` to stop in order, as SIGTERM does; resolves once it has taken the request (the
 * stop itself then goes on). Throws NoGatewayError when none listens.
 */
export async function requestStop(file: string): Promise<void> {
  await controlRequest(file, { op: 'stop' }, 10_000);
}

/**
 * How long a check may take: every plugin of the chain may use its whole timeout (30 s by default) on the message, a
 * clamd scan or a probe of the next hop among them.
 */
const CHECK_TIMEOUT_MS = 5 * 60_000;

/**
 * Has the gateway listening on `file` run a message through its chain, keeping nothing (`moat check`); throws
 * NoGatewayError when none listens. `op` goes first on the line: the server tells a check's long line by it.
 */
export function requestCheck(file: string, req: CheckRequest, timeoutMs = CHECK_TIMEOUT_MS): Promise<CheckReport> {
  return controlRequest(file, { op: 'check', ...req }, timeoutMs) as Promise<CheckReport>;
}

export class ControlClient implements AdminActions {
  readonly file: string;
  constructor(file: string) { this.file = file; }
  status(): Promise<ControlStatus> { return controlRequest(this.file, { op: 'status' }, 10_000) as Promise<ControlStatus>; }
  flush(id?: string): Promise<number> { return this.change({ op: 'flush', id }) as Promise<number>; }
  hold(id: string): Promise<AdminResult> { return this.change({ op: 'hold', id }) as Promise<AdminResult>; }
  release(id: string): Promise<AdminResult> { return this.change({ op: 'release', id }) as Promise<AdminResult>; }
  delete(id: string, opts: { to?: string } = {}): Promise<AdminResult> { return this.change({ op: 'delete', id, to: opts.to }) as Promise<AdminResult>; }
  releaseForRecipient(id: string, address: string): Promise<AdminResult> { return this.change({ op: 'recipient', action: 'release', id, address }) as Promise<AdminResult>; }
  deleteForRecipient(id: string, address: string): Promise<AdminResult> { return this.change({ op: 'recipient', action: 'delete', id, address }) as Promise<AdminResult>; }
  /** A quarantine digest run by the gateway; the wait covers reading a large quarantine. */
  digest(opts: DigestOptions): Promise<DigestReport> { return this.change({ op: 'digest', ...opts }) as Promise<DigestReport>; }
  list(folder: QueueFolder): Promise<ListReply> { return controlRequest(this.file, { op: 'list', folder }, CHANGE_TIMEOUT_MS) as Promise<ListReply>; }

  /**
   * One action on many messages, BULK_IDS_MAX per request, each answered per id (see the server's bulk()). Waiting
   * for deliveries in progress does not add up across a request: only the messages in flight wait, and they wait at
   * once, so one request's timeout bounds a thousand ids as it bounds one.
   */
  async bulk(action: BulkAction, ids: readonly string[], opts: { to?: string } = {}): Promise<BulkReply> {
    const all: BulkReply = { results: {}, errors: {} };
    for (let i = 0; i < ids.length; i += BULK_IDS_MAX) {
      const batch = ids.slice(i, i + BULK_IDS_MAX);
      try {
        const r = await this.change({ op: 'bulk', action, ids: batch, to: opts.to }) as BulkReply;
        Object.assign(all.results, r.results);
        Object.assign(all.errors, r.errors);
      } catch (e) {
        // The batch as a whole got no answer (the gateway stopped): its ids are reported, the next batches still tried.
        for (const id of batch) all.errors[id] = (e as Error).message;
      }
    }
    return all;
  }

  private change(req: ControlRequest): Promise<unknown> { return controlRequest(this.file, req, CHANGE_TIMEOUT_MS); }
}

/**
 * A folder's messages as the running gateway holds them, or undefined when none answers (the caller reads the files).
 * A gateway from before the list op answers `unknown op`: the files are read then too.
 */
export async function gatewayList(store: QueueStore, folder: QueueFolder): Promise<ListReply | undefined> {
  try { return await new ControlClient(socketPath(store.dataDir)).list(folder); } catch (e) {
    if (e instanceof NoGatewayError || /^unknown op/.test((e as Error).message)) return undefined;
    throw e;
  }
}

/**
 * `action` on each of `ids`: through the gateway in bulk requests, or one after another on the files. A message that
 * fails is reported in `errors` and does not stop the others.
 */
export async function actOnEach(actions: AdminActions, action: BulkAction, ids: readonly string[], opts: { to?: string } = {}): Promise<BulkReply> {
  if (actions instanceof ControlClient) return actions.bulk(action, ids, opts);
  const reply: BulkReply = { results: {}, errors: {} };
  for (const id of ids) {
    try {
      reply.results[id] = await runAdminAction(actions, action, id, opts);
    } catch (e) { reply.errors[id] = (e as Error).message; }
  }
  return reply;
}

/** The running gateway's status, or undefined when none answers (for views, which change nothing). */
export async function gatewayStatus(store: QueueStore): Promise<ControlStatus | undefined> {
  try { return await new ControlClient(socketPath(store.dataDir)).status(); } catch (e) {
    if (e instanceof NoGatewayError) return undefined;
    throw e;
  }
}

export interface QueueOwner {
  actions: AdminActions;
  /** The gateway's status when it acts, undefined when this process edits the files. */
  live: ControlStatus | undefined;
  /** Lets the next owner in once this process is done (a no-op through the gateway). */
  release(): void;
}

/** How long to wait for a gateway between its lock and its socket (starting or stopping), or for another admin. */
const WAIT_FOR_GATEWAY_MS = 5_000;
const WAIT_FOR_ADMIN_MS = 30_000;

function ownerError(holder: LockHolder, state: HolderState, file: string): Error {
  const unsure = state === 'unverified' ? ` (if no such process runs, remove ${file})` : '';
  return holder.role === 'gateway'
    ? new Error(`${describeHolder(holder)} runs on this data_dir but does not answer on its control socket (see its log); stop it to change the queue${unsure}`)
    : new Error(`${describeHolder(holder)} is still changing the queue; try again when it is done${unsure}`);
}

/**
 * The running gateway's actions when one answers on data_dir/control.sock, else direct edits of the files under
 * data_dir/queue.lock, so that neither a gateway that is starting nor another admin edits them meanwhile.
 */
export async function queueActions(store: QueueStore): Promise<QueueOwner> {
  const client = new ControlClient(socketPath(store.dataDir));
  const started = Date.now();
  for (;;) {
    const live = await gatewayStatus(store);
    if (live) return { actions: client, live, release: () => undefined };
    const attempt = tryLock(store.dataDir, 'moat queue');
    if (attempt.acquired) {
      let released = false;
      const done = () => {
        if (released) return;
        released = true;
        returnOwnership(store.dataDir);
        attempt.release();
      };
      // Released on any exit, so a command that fails half-way does not keep the gateway from starting.
      process.once('exit', done);
      return { actions: new TrailedActions(new FolderAwareActions(new FileQueueActions(store), store), store.dataDir), live: undefined, release: done };
    }
    const patience = attempt.holder.role === 'gateway' ? WAIT_FOR_GATEWAY_MS : WAIT_FOR_ADMIN_MS;
    if (Date.now() - started > patience) throw ownerError(attempt.holder, attempt.state, lockPath(store.dataDir));
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Relay workers: deliver queued messages oldest first, retry on a schedule, notify senders, dead-letter after the lifetime or on 5xx.
import type { QueueEntry } from './entry.ts';
import { wantsNotice } from './dsn-params.ts';
import type { DsnKind } from './dsn.ts';
import type { QueueStore } from './queue-store.ts';
import type { Relay, RecipientResult } from '../relay/types.ts';
import type { Logger } from '../log/types.ts';
import { outgoingStream, type ReadProgress } from '../relay/outgoing-stream.ts';
import { Bouncer } from './bouncer.ts';
import type { BounceConfig } from './bounce-config.ts';
import { dropRecipients, hasPending, selectionFields, type ActionResult, type QueueActions } from './actions.ts';
import { TIMER_MAX_MS } from '../config/schema.ts';
import { deferralReason, type DeferralReason, type Metrics } from '../metrics.ts';

/**
 * How long a stop lets deliveries already under way finish before it cuts their sessions off, as Postfix's stop
 * ends its smtp processes: a hung next hop must not hold a stop for its whole timeout (systemd kills after 90 s). A
 * message cut off is not delivered yet; it stays queued as it was and goes at the next start.
 */
export const STOP_GRACE_MS = 10_000;

/** Where the queue counts what happened to its messages (the gateway's Metrics). */
export type Counters = Pick<Metrics, 'inc' | 'count'>;

export interface DeliveryPolicy {
  retry_schedule: number[];
  lifetime: number;
  concurrency: number;
  bounces?: BounceConfig;
}

/** Delay before attempt number `attempts + 1`, from the schedule; its last step repeats. */
export function retryDelay(schedule: number[], attempts: number): number {
  if (schedule.length === 0) return 900_000;
  return schedule[Math.min(attempts - 1, schedule.length - 1)];
}

/** Where an entry with `id` stands, or would stand, in a list sorted by id. */
function sortedIndex(list: QueueEntry[], id: string): number {
  let lo = 0, hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].id < id) lo = mid + 1; else hi = mid; }
  return lo;
}

function insertSorted(list: QueueEntry[], e: QueueEntry): void {
  list.splice(sortedIndex(list, e.id), 0, e);
}

/**
 * Adds many entries to a list sorted by id in one merge: one insertSorted each costs a move of the list per entry,
 * which held the event loop for seconds when a flush or a returning smarthost made a queue of 50,000 due at once.
 */
function mergeSorted(list: QueueEntry[], add: QueueEntry[]): void {
  if (add.length === 0) return;
  add.sort((a, b) => (a.id < b.id ? -1 : 1));
  const old = list.splice(0);
  let i = 0, j = 0;
  while (i < old.length && j < add.length) list.push(old[i].id < add[j].id ? old[i++] : add[j++]);
  while (i < old.length) list.push(old[i++]);
  while (j < add.length) list.push(add[j++]);
}

/**
 * Where a connection lost after a server answered left the message, added to the error as Postfix words it: once the
 * final dot went out the server may have taken it, so it may arrive twice. A body read to its end is not that: the
 * stream is read ahead of what the socket has sent, and a server that hung up mid-body has no message to keep.
 */
function whereLost(result: RecipientResult, last: ReadProgress | undefined): string {
  if (result.afterEndOfData) return '(while sending end of data; the message may be delivered more than once)';
  if (last?.started) return '(while sending the message body)';
  return '(before the message was sent)';
}

/**
 * Deferred messages whose next attempt passed while the gateway was down are taken at a start one every this many
 * ms, oldest due first: 100 a second, so a restart does not send thousands at once to a next hop that may still fail.
 */
const RECOVERY_SPACING_MS = 10;

/** Why an attempt left recipients for a retry, from its first result that neither delivered nor failed for good. */
function deferralReasonOf(results: RecipientResult[]): DeferralReason {
  const waiting = results.find((r) => !r.ok && !r.permanent);
  return waiting ? deferralReason(waiting) : 'other';
}

/** One recipient's outcome in an attempt: the next hop that gave it (`relay`) and its reply. */
interface RecipientOutcome { address: string; relay: string; reply: string }

/** Recipients of one attempt that one next hop settled the same way with one reply: they share a log line. */
interface OutcomeGroup { relay: string; reply: string; to: string[] }

/**
 * The recipients grouped by next hop and reply, in the order first met, as Postfix logs a line per recipient: a
 * helpdesk looking for one finds the reply that concerns it, and a line never quotes another recipient's reply.
 */
function groupByReply(items: Iterable<RecipientOutcome>): OutcomeGroup[] {
  const groups = new Map<string, OutcomeGroup>();
  for (const { address, relay, reply } of items) {
    const key = `${relay}\n${reply}`;
    const g = groups.get(key);
    if (g) g.to.push(address); else groups.set(key, { relay, reply, to: [address] });
  }
  return [...groups.values()];
}

/** What an attempt did: its lines, and the line that says its state could not be written. */
interface AttemptOutcome {
  fields: Record<string, unknown>;
  tried: string[];
  deliveredNow: string[];
  failedNow: string[];
  /** This attempt's delivered and refused-for-good recipients, by next hop and reply. */
  delivered: OutcomeGroup[];
  bounced: OutcomeGroup[];
  /** Which next hop each recipient tried in this attempt went to (`none` when none was tried). */
  hops: Map<string, string>;
  /** The failure notice queued for a recipient by this attempt, by address. */
  notices: Map<string, string>;
  lastReply?: string;
  unreachable: boolean;
  /** What kept this attempt's first recipient left for a retry from delivery (`deferred` counts by it). */
  deferReason: DeferralReason;
}

export class DeliveryQueue implements QueueActions {
  private readonly store: QueueStore;
  private relay: Relay;
  private policy: DeliveryPolicy;
  private readonly log: Logger;
  private readonly bouncer: Bouncer;
  private readonly ready: QueueEntry[] = [];
  private readonly deferred = new Map<string, QueueEntry>();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Every message this queue schedules (ready, deferred or in flight), by id: what the control channel acts on. */
  private readonly live = new Map<string, QueueEntry>();
  /**
   * Destinations that could not be reached on the last try. While one is down, only its oldest message probes it on
   * its own schedule and the others wait for the probe; when it answers again, they all go at once, oldest first.
   */
  private readonly down = new Set<string>();
  private readonly probing = new Set<string>();
  /**
   * Deferred messages waiting for their destination to answer: those that could not reach it, and those whose time
   * came while it was down. Only these go at once when it answers again; a message deferred by a reply of its own (a
   * recipient's 4xx, a connection dropped after its data) keeps its retry schedule.
   */
  private readonly awaitingDest = new Set<string>();
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private stopped = false;
  private stopping?: Promise<void>;
  /** The relays attempts under way use, with how many each: after a reload, some still use the one it replaced. */
  private readonly sending = new Map<Relay, number>();
  private idleWaiters: Array<() => void> = [];
  /**
   * Messages whose state the last attempt could not write (a full disk), with what that line said: the same failure
   * again is not logged again, a new outcome (another recipient delivered, a new error) is.
   */
  private readonly unwrittenLogged = new Map<string, string>();
  /** Also where the control channel counts what an admin does outside this queue (a release from the quarantine, a requeue). */
  readonly counters?: Counters;

  /** `counters` gets what happened to messages (relayed, deferred, bounced, deadlettered, deleted, released): `moat metrics`. */
  constructor(store: QueueStore, relay: Relay, policy: DeliveryPolicy, log: Logger, counters?: Counters) {
    this.counters = counters;
    this.store = store;
    this.relay = relay;
    this.policy = policy;
    this.log = log.child({ component: 'delivery' });
    this.bouncer = new Bouncer(store, this.log);
    if (policy.bounces) this.bouncer.config = policy.bounces;
  }

  setRelay(relay: Relay): void { this.relay = relay; this.down.clear(); }
  setPolicy(policy: DeliveryPolicy): void {
    this.policy = policy;
    if (policy.bounces) this.bouncer.config = policy.bounces;
    this.pump();
  }
  /** The name notices are reported from (Reporting-MTA, postmaster@…). */
  setHostname(hostname: string): void { this.bouncer.hostname = hostname; }

  get size(): number { return this.ready.length + this.deferred.size + this.inFlight.size; }
  /** Ids being delivered right now. */
  get busy(): string[] { return [...this.inFlight.keys()]; }
  /** The messages it schedules (ready, deferred or in flight) as they stand now: what `moat queue list` shows of them. */
  scheduled(): QueueEntry[] { return [...this.live.values()]; }

  /** Adds a committed message; it is due now unless its nextAttemptAt says otherwise. */
  add(entry: QueueEntry): void {
    if (this.stopped) return;
    if (entry.held) return;
    this.live.set(entry.id, entry);
    if (entry.nextAttemptAt > Date.now()) { this.deferred.set(entry.id, entry); this.arm(entry.nextAttemptAt); }
    else insertSorted(this.ready, entry);
    this.pump();
  }

  /**
   * Schedules the messages recovered at a start. As Postfix keeps a deferred message's time across a restart, each
   * deferred one waits for its stored next attempt; those whose time passed while the gateway was down go soon, one
   * every RECOVERY_SPACING_MS. A message never tried yet is due now, as when it arrived.
   */
  addRecovered(entries: QueueEntry[], now = Date.now()): void {
    const overdue = entries.filter((e) => e.attempts > 0 && e.nextAttemptAt <= now);
    overdue.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1));
    overdue.forEach((e, i) => { e.nextAttemptAt = now + i * RECOVERY_SPACING_MS; });
    for (const e of entries) {
      if (e.attempts === 0) e.nextAttemptAt = Math.min(e.nextAttemptAt, now);
      this.add(e);
    }
  }

  /** Retries now: one message, or every deferred one. */
  async flush(id?: string): Promise<number> {
    const due = id ? [this.deferred.get(id)].filter((x): x is QueueEntry => !!x) : [...this.deferred.values()];
    for (const e of due) { this.deferred.delete(e.id); e.nextAttemptAt = Date.now(); }
    mergeSorted(this.ready, due);
    this.pump();
    return due.length;
  }

  /** Takes a message out of the in-memory schedule; false if it is being delivered now. */
  forget(id: string): boolean {
    if (this.inFlight.has(id)) return false;
    this.unschedule(id);
    return true;
  }

  /** Stops delivering a message until it is released; waits for an attempt in progress to end first. */
  async hold(id: string): Promise<ActionResult> {
    const waited = await this.settle(id);
    const e = this.live.get(id) ?? await this.store.load(id);
    if (!e) return this.gone(id, waited);
    if (e.held) return 'unchanged';
    this.unschedule(id);
    e.held = true;
    try { await this.store.update(e); } catch (err) { e.held = false; this.add(e); throw err; }
    this.log.info('held', { qid: id });
    return 'done';
  }

  async release(id: string): Promise<ActionResult> {
    const waited = await this.settle(id);
    if (this.live.has(id)) return 'unchanged';
    const e = await this.store.load(id);
    if (!e) return this.gone(id, waited);
    if (!e.held) { this.add(e); return 'unchanged'; }
    e.held = false;
    e.nextAttemptAt = Date.now();
    await this.store.update(e);
    this.counters?.inc('released');
    this.log.info('released', { qid: id });
    this.add(e);
    return 'done';
  }

  async delete(id: string, opts: { to?: string } = {}): Promise<ActionResult> {
    const waited = await this.settle(id);
    const e = this.live.get(id) ?? await this.store.load(id);
    if (!e) return this.gone(id, waited);
    if (opts.to) {
      const n = dropRecipients(e, opts.to);
      if (n === 0) return 'unchanged';
      if (hasPending(e)) {
        await this.store.update(e);
        this.log.info('recipients deleted', { qid: id, ...selectionFields(opts.to), count: n });
        return 'done';
      }
    }
    this.unschedule(id);
    await this.store.remove(id);
    this.counters?.inc('deleted');
    this.log.info('deleted', { qid: id });
    return 'done';
  }

  /** Resolves when nothing is in flight and nothing is due (tests and shutdown). */
  async idle(): Promise<void> {
    if (this.inFlight.size !== 0 || this.ready.length !== 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    await this.store.removalsSettled();
  }

  /**
   * Starts no attempt any more: those waiting for a connection come back not attempted (nothing counted, nothing
   * logged as a deferral), those sending get `graceMs` to finish and are then cut off. Resolves when none runs.
   */
  stop(graceMs = STOP_GRACE_MS): Promise<void> {
    return this.stopping ??= (async () => {
      this.stopped = true;
      clearTimeout(this.timer);
      for (const r of new Set([this.relay, ...this.sending.keys()])) r.stopStarting?.();
      const cut = setTimeout(() => {
        if (this.inFlight.size === 0) return;
        this.log.info('stopping: cutting off deliveries still under way; they are sent at the next start', { count: this.inFlight.size, grace_ms: graceMs });
        for (const r of this.sending.keys()) r.cutOff?.();
      }, graceMs);
      try { await Promise.allSettled([...this.inFlight.values()]); } finally { clearTimeout(cut); }
      await this.store.removalsSettled();
      // States a full disk refused get one more try, now that no attempt changes them: space may have come back.
      if (this.store.unwrittenStateCount) await this.store.writeUnwrittenStates();
    })();
  }

  /**
   * Waits until `id` is not being delivered; after it returns, the caller acts before any other task can start one.
   * True when it had to wait for an attempt.
   */
  private async settle(id: string): Promise<boolean> {
    let waited = false;
    while (this.inFlight.has(id)) { waited = true; await this.inFlight.get(id)!.catch(() => undefined); }
    return waited;
  }

  /**
   * Why an action found no message `id` in the queue. After waiting for its delivery attempt: delivered by it, unless
   * that attempt dead-lettered it (`missing` here, so the caller looks in dead-letter and acts there). Admin actions on
   * one message run one after another (the control server's per-message order), so no other action removed it meanwhile.
   */
  private async gone(id: string, waited: boolean): Promise<ActionResult> {
    if (!waited) return 'missing';
    return (await this.store.load(id, 'deadletter')) ? 'missing' : 'delivered';
  }

  private unschedule(id: string): void {
    this.live.delete(id);
    this.deferred.delete(id);
    this.awaitingDest.delete(id);
    this.unwrittenLogged.delete(id);
    // The list is sorted by id: a scan of it per deleted message made `delete --to` quadratic in the queue's size.
    const i = sortedIndex(this.ready, id);
    if (this.ready[i]?.id === id) this.ready.splice(i, 1);
  }

  private arm(at: number): void {
    if (at >= this.timerAt) return;
    clearTimeout(this.timer);
    // A Node timer fires at once past about 24.8 days: a farther attempt is reached in steps instead.
    this.timerAt = Math.min(at, Date.now() + TIMER_MAX_MS);
    this.timer = setTimeout(() => this.promoteDue(), Math.max(0, this.timerAt - Date.now()));
    this.timer.unref();
  }

  private destOf(e: QueueEntry): string {
    const r = e.recipients.find((x) => x.status === 'pending');
    return r && this.relay.destination ? this.relay.destination(r.address) : '';
  }

  private promoteDue(): void {
    this.timerAt = Infinity;
    const now = Date.now();
    const dueDown = new Map<string, QueueEntry[]>();
    const promoted: QueueEntry[] = [];
    for (const [id, e] of this.deferred) {
      if (e.nextAttemptAt > now) continue;
      const d = this.down.size ? this.destOf(e) : '';
      if (this.down.has(d) && now - e.receivedAt < this.policy.lifetime) {
        // Appended in place: a copy per message made this quadratic (18 s of a blocked event loop at 50,000 waiting).
        const list = dueDown.get(d);
        if (list) list.push(e); else dueDown.set(d, [e]);
        continue;
      }
      this.deferred.delete(id);
      promoted.push(e);
    }
    mergeSorted(this.ready, promoted);
    for (const [d, due] of dueDown) {
      for (const e of due) this.awaitingDest.add(e.id);
      let probe: QueueEntry | undefined;
      if (!this.probing.has(d)) {
        // The oldest of those waiting for the destination: one deferred by its own 4xx is not due, and waits its time.
        for (const e of this.deferred.values()) {
          if (this.awaitingDest.has(e.id) && this.destOf(e) === d && (!probe || e.id < probe.id)) probe = e;
        }
      }
      // Only the oldest message probes (on its own schedule); the others follow its next attempt.
      if (probe && probe.nextAttemptAt <= now) {
        this.probing.add(d);
        this.deferred.delete(probe.id);
        insertSorted(this.ready, probe);
      }
      const follow = probe && probe.nextAttemptAt > now ? probe.nextAttemptAt : now + retryDelay(this.policy.retry_schedule, 1);
      for (const e of due) if (e !== probe) e.nextAttemptAt = follow;
    }
    let next = Infinity;
    for (const e of this.deferred.values()) next = Math.min(next, e.nextAttemptAt);
    if (next < Infinity) this.arm(next);
    this.pump();
  }

  /** A destination answered again: every message waiting for it is due now, oldest first. */
  private wake(d: string): void {
    this.down.delete(d);
    const due: QueueEntry[] = [];
    for (const [id, e] of this.deferred) {
      if (!this.awaitingDest.has(id) || this.destOf(e) !== d) continue;
      this.deferred.delete(id);
      this.awaitingDest.delete(id);
      due.push(e);
    }
    mergeSorted(this.ready, due);
    this.log.info('destination reachable again: retrying its messages now', { destination: d || 'default' });
  }

  private defer(e: QueueEntry): void {
    this.deferred.set(e.id, e);
    this.arm(e.nextAttemptAt);
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.policy.concurrency && this.ready.length) {
      const e = this.ready.shift()!;
      const p = this.attempt(e).catch((err) => {
        this.log.error('delivery attempt failed unexpectedly; retrying later', { qid: e.id, error: String(err), code: (err as NodeJS.ErrnoException)?.code });
        e.nextAttemptAt = Date.now() + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
        if (this.live.has(e.id)) this.defer(e);
      }).finally(() => {
        this.inFlight.delete(e.id);
        this.pump();
        if (this.inFlight.size === 0 && this.ready.length === 0) { const w = this.idleWaiters; this.idleWaiters = []; w.forEach((f) => f()); }
      });
      this.inFlight.set(e.id, p);
    }
  }

  /** An attempt that sent nothing: left for the next start when stopping, else (a replaced relay's pool closed) tried again. */
  private notAttempted(e: QueueEntry, relay: Relay, reason: string): void {
    if (this.stopped) {
      this.log.info('not delivered: the gateway is stopping; it is sent at the next start', { qid: e.id, reason });
      return;
    }
    if (!this.live.has(e.id)) return;
    // Through the timer, not straight into `ready`: a pump before this attempt has left `inFlight` would start it twice.
    // Due at once on the running relay; on the same one a moment later, which would only give the same answer now.
    e.nextAttemptAt = Date.now() + (relay !== this.relay ? 0 : 1000);
    this.defer(e);
  }

  /** Queues a notice and schedules it (durable before the entry records that it was sent); its id, if one was owed. */
  private async notify(e: QueueEntry, kind: DsnKind, recipients: QueueEntry['recipients']): Promise<string | undefined> {
    const dsn = await this.bouncer.notify(e, kind, recipients, e.receivedAt + this.policy.lifetime);
    if (dsn) { this.add(dsn); if (kind === 'failure') this.counters?.inc('bounced'); }
    return dsn?.id;
  }

  private async attempt(e: QueueEntry): Promise<void> {
    // A message file cut short (a copy taken while it was written) is set aside, never delivered cut.
    if (await this.store.setAsideIfCut(e)) { this.unschedule(e.id); return; }
    const pending = e.recipients.filter((r) => r.status === 'pending').map((r) => r.address);
    const started = Date.now();
    const dest = this.destOf(e);
    const relay = this.relay;
    let results: RecipientResult[];
    this.awaitingDest.delete(e.id);
    // How far each stream made for this attempt was read: any read means a server greeted us (the 7-bit check reads
    // one after EHLO, the body follows a 354), and the last one says where a lost connection left the message.
    const reads: ReadProgress[] = [];
    this.sending.set(relay, (this.sending.get(relay) ?? 0) + 1);
    try {
      const body = this.store.takeBody(e.id);
      const source = this.store.messageSource(e.id);
      const message = () => {
        const progress = { started: false, ended: false };
        reads.push(progress);
        return outgoingStream(e, source.file, body, source.start, progress);
      };
      results = pending.length ? await relay.send(e, pending, message) : [];
    } finally {
      this.probing.delete(dest);
      const n = this.sending.get(relay)! - 1;
      if (n === 0) this.sending.delete(relay); else this.sending.set(relay, n);
    }
    // Recipients a stop kept from being sent, or cut off, stay as they were: no attempt, no reply, no deferral.
    const notAttempted = results.filter((r) => r.notAttempted);
    if (notAttempted.length) {
      results = results.filter((r) => !r.notAttempted);
      if (results.length === 0) { this.notAttempted(e, relay, notAttempted[0].reply); return; }
    }
    if (results.length) e.attempts++;
    const reached = reads.some((p) => p.started);
    if (reached) results = results.map((r) => (r.hostFailure ? { ...r, reply: `${r.reply} ${whereLost(r, reads[reads.length - 1])}` } : r));
    // Down only when no server answered: a connection lost after a greeting is this message's trouble (Postfix's
    // "lost connection with X while sending end of data"), and holding the whole destination for it held back all
    // its mail until this message's next try, and flushed them all at once when any other got through.
    const unreachable = results.length > 0 && !reached && results.every((r) => r.hostFailure);
    if (unreachable) {
      if (!this.down.has(dest)) this.log.warn('destination unreachable: its other messages wait for this one to get through', { destination: dest || 'default', reply: results[0].reply });
      this.down.add(dest);
    } else if (results.length && this.down.has(dest)) this.wake(dest);
    const byAddr = new Map(results.map((r) => [r.address, r]));
    // Named on this attempt's line, whatever else it says: recipients delivered by an earlier attempt (before a
    // deferral or a requeue from dead-letter) are not delivered again, so not counted again.
    const deliveredNow: string[] = [];
    const failedNow: string[] = [];
    const hops = new Map(results.map((r) => [r.address, r.relay ?? 'none']));
    const settled = { delivered: [] as RecipientOutcome[], bounced: [] as RecipientOutcome[] };
    for (const r of e.recipients) {
      const res = byAddr.get(r.address);
      if (!res || r.status !== 'pending') continue;
      r.reply = res.reply;
      // Only a server's own answer names one; a connection that failed leaves the last one's host out of it.
      if (res.remoteMta && !res.hostFailure) r.remoteMta = res.remoteMta; else delete r.remoteMta;
      const line = { address: r.address, relay: hops.get(r.address)!, reply: res.reply };
      if (res.ok) { r.status = 'delivered'; deliveredNow.push(r.address); settled.delivered.push(line); if (res.relayedWithoutDsn) r.relayNoticeDue = true; }
      else if (res.permanent) { r.status = 'failed'; failedNow.push(`${r.address}: ${res.reply}`); settled.bounced.push(line); }
    }
    // What the message waits on: a deferred recipient's reply first, as `moat queue list` shows it as the reason.
    const lastReply = results.find((r) => !r.ok && !r.permanent)?.reply ?? results.find((r) => !r.ok)?.reply ?? results[0]?.reply ?? e.lastReply;
    e.lastReply = lastReply;
    if (results.length) e.history.push({ at: started, result: results.map((r) => `${r.address}: ${r.reply}`).join('; ').slice(0, 2000) });
    const fields = { qid: e.id, message_id: e.messageId, attempt: e.attempts, ms: Date.now() - started };
    const outcome: AttemptOutcome = {
      fields, tried: pending, deliveredNow, failedNow, delivered: groupByReply(settled.delivered), bounced: groupByReply(settled.bounced),
      hops, notices: new Map(), lastReply, unreachable, deferReason: deferralReasonOf(results),
    };
    try {
      await this.settleAttempt(e, outcome);
    } catch (err) {
      this.stateNotWritten(e, outcome, err);
      return;
    }
    if (this.unwrittenLogged.delete(e.id)) this.log.info('message state written again', { qid: e.id, attempt: e.attempts });
  }

  /**
   * An attempt's outcome could not be written (a full disk): the recipients it delivered are marked in reserved room
   * (or kept in memory), so neither the retry nor a restart sends to them again, and the message is retried on its
   * schedule. One line says what the attempt did; the same failure at later retries is not logged again.
   */
  private stateNotWritten(e: QueueEntry, o: AttemptOutcome, err: unknown): void {
    const recorded = this.store.recordDelivered(e, o.deliveredNow);
    e.nextAttemptAt = Date.now() + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
    if (this.live.has(e.id)) { this.defer(e); if (o.unreachable) this.awaitingDest.add(e.id); }
    const code = (err as NodeJS.ErrnoException)?.code;
    const stillPending = e.recipients.filter((r) => r.status === 'pending').map((r) => r.address);
    const deliveredAll = e.recipients.filter((r) => r.status === 'delivered').map((r) => r.address);
    const said = JSON.stringify([code, String(err), stillPending, deliveredAll]);
    // The recipients it delivered did get the message (the next hop's queue id is in the reply): said at once, as
    // for any attempt, whether or not the same failure to write was logged before.
    this.logSettled(e, o);
    if (this.unwrittenLogged.get(e.id) === said) return;
    this.unwrittenLogged.set(e.id, said);
    this.log.error('delivery attempt made, but the message state could not be written: kept in memory; retrying later', {
      ...o.fields, tried: o.tried, delivered: o.deliveredNow, delivered_before: deliveredAll.filter((a) => !o.deliveredNow.includes(a)),
      pending: stillPending, ...(o.failedNow.length ? { failed: o.failedNow } : {}), reply: o.lastReply,
      delivered_recorded: o.deliveredNow.length ? (recorded ? 'in reserved space' : 'in memory only') : undefined,
      next_attempt: new Date(e.nextAttemptAt).toISOString(), error: String((err as Error)?.message ?? err), code,
    });
  }

  /**
   * A line per group of recipients this attempt settled, as Postfix's status=sent and status=bounced: `delivered`
   * with the next hop's reply (which names its queue id), `bounced` with the refusal. Whatever becomes of the
   * message's other recipients, so every delivered copy has its line.
   */
  private logSettled(e: QueueEntry, o: AttemptOutcome): void {
    for (const g of o.delivered) this.log.info('delivered', { ...o.fields, relay: g.relay, rcpts: g.to.length, to: g.to, reply: g.reply, dsn: e.dsn });
    for (const g of o.bounced) {
      const notice = g.to.map((a) => o.notices.get(a)).find((id) => id !== undefined);
      this.log.info('bounced', { ...o.fields, relay: g.relay, to: g.to, reply: g.reply, dsn: e.dsn, ...(notice ? { dsn_qid: notice } : {}) });
    }
  }

  /** The rest of an attempt once its replies are applied to the entry: notices, then the state written or the message removed. */
  private async settleAttempt(e: QueueEntry, o: AttemptOutcome): Promise<void> {
    const { fields, lastReply, unreachable } = o;
    const expired = Date.now() - e.receivedAt >= this.policy.lifetime;
    if (expired) for (const r of e.recipients) if (r.status === 'pending') { r.status = 'failed'; r.reply ??= 'delivery time expired'; }
    const unnotified = e.recipients.filter((r) => r.status === 'failed' && !r.notified);
    // NOTIFY (RFC 3461 §4.1) may have asked for no failure notice: such a recipient is done with all the same.
    const toNotify = unnotified.filter((r) => wantsNotice(r, 'failure'));
    // A bounced line names the notice its recipients' sender gets (a notice may be owed for none: NOTIFY, `<>`).
    if (toNotify.length) {
      const id = await this.notify(e, 'failure', toNotify);
      if (id) for (const r of toNotify) o.notices.set(r.address, id);
    }
    for (const r of unnotified) r.notified = true;
    const relayed = e.recipients.filter((r) => r.relayNoticeDue);
    if (relayed.length) {
      await this.notify(e, 'success', relayed);
      for (const r of relayed) delete r.relayNoticeDue;
    }
    const stillPending = e.recipients.filter((r) => r.status === 'pending');
    const failed = e.recipients.filter((r) => r.status === 'failed');

    if (stillPending.length === 0) {
      // Forgotten only once its files have moved: a removal or a move to dead-letter that fails (a full disk) is
      // retried on the schedule, not left on disk until the next start.
      if (failed.length === 0) {
        // Awaited on purpose: removals are serialised (see QueueStore.remove), and waiting for them paces the relay
        // workers so new messages keep the CPU and the journal (measured: 868 vs 280 msg/s to 250 at 4 KB, 20 connections).
        await this.store.remove(e.id);
        this.live.delete(e.id);
        this.counters?.count('relayed', e.dsn ? 'notice' : 'message');
        this.logSettled(e, o);
      } else {
        await this.store.commitTo('deadletter', e);
        this.live.delete(e.id);
        this.counters?.count('deadlettered', expired ? 'expired' : 'rejected');
        this.logSettled(e, o);
        // The message's end: every recipient it failed, earlier attempts' too and those its lifetime ran out on.
        this.log.warn(expired ? 'lifetime expired: moved to dead-letter' : 'permanent failure: moved to dead-letter', {
          ...fields, to: failed.map((r) => r.address), failed: failed.map((r) => `${r.address}: ${r.reply}`), dsn: e.dsn,
        });
      }
      return;
    }
    e.nextAttemptAt = Date.now() + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
    const delayWanted = stillPending.filter((r) => wantsNotice(r, 'delay'));
    if (delayWanted.length && this.bouncer.delayDue(e)) {
      if (await this.notify(e, 'delay', delayWanted) !== undefined) e.delayNotices = (e.delayNotices ?? 0) + 1;
    }
    await this.store.update(e);
    this.counters?.count('deferred', o.deferReason);
    this.logSettled(e, o);
    // A line per next hop and reply, naming the recipients it deferred (Postfix logs one per recipient).
    const next = new Date(e.nextAttemptAt).toISOString();
    const deferred = stillPending.map((r) => ({ address: r.address, relay: o.hops.get(r.address) ?? 'none', reply: r.reply ?? lastReply ?? '' }));
    for (const g of groupByReply(deferred)) this.log.info('deferred', { ...fields, relay: g.relay, to: g.to, next_attempt: next, reply: g.reply, dsn: e.dsn });
    if (this.live.has(e.id)) this.defer(e);
    if (unreachable && this.live.has(e.id)) this.awaitingDest.add(e.id);
  }
}

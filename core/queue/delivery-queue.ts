// Relay workers: deliver queued messages oldest first, retry on a schedule, notify senders, dead-letter after the lifetime or on 5xx.
import type { QueueEntry } from './entry.ts';
import { wantsNotice } from './dsn-params.ts';
import type { DsnKind } from './dsn.ts';
import type { QueueFolder, QueueStore } from './queue-store.ts';
import type { BrokenMessage } from './broken-messages.ts';
import type { HopTls, Relay, RecipientResult } from '../relay/types.ts';
import type { Logger } from '../log/types.ts';
import { outgoingStream, type ReadProgress } from '../relay/outgoing-stream.ts';
import { Bouncer } from './bouncer.ts';
import type { BounceConfig } from './bounce-config.ts';
import { dropRecipients, hasPending, selectionFields, type ActionResult, type QueueActions } from './actions.ts';
import { TIMER_MAX_MS } from '../config/schema.ts';
import { deferralReason, type DeferralReason, type Metrics } from '../metrics.ts';
import { lifetimeOf, lifetimeOver } from './lifetime.ts';
import { DueHeap } from './due-heap.ts';
import { HeldDestinations } from './held-destinations.ts';

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
  /** Unset: mail from <> lives as long as any other (lifetime.ts). */
  bounce_lifetime?: number;
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
 * What a send that threw (against the Relay contract) leaves its own recipients: a temporary failure, retried on the
 * schedule. No host failure: nothing says the destination is down.
 */
function sendThrew(recipients: string[], reason: unknown): RecipientResult[] {
  const why = reason instanceof Error ? reason.message : String(reason);
  return recipients.map((address) => ({ address, ok: false, permanent: false, reply: `451 4.3.0 relay error: ${why}` }));
}

/**
 * Deferred messages whose next attempt passed while the gateway was down are taken at a start one every this many
 * ms, oldest due first: 100 a second, so a restart does not send thousands at once to a next hop that may still fail.
 */
const RECOVERY_SPACING_MS = 10;

/**
 * Messages the timer looks at in one turn of the event loop; more due at once are taken in further turns, so a retry
 * round of a big queue never holds SMTP clients for longer than a batch takes (a few ms).
 */
const PROMOTE_BATCH = 1000;

/** Why an attempt left recipients for a retry, from its first result that neither delivered nor failed for good. */
function deferralReasonOf(results: RecipientResult[]): DeferralReason {
  const waiting = results.find((r) => !r.ok && !r.permanent);
  return waiting ? deferralReason(waiting) : 'other';
}

/** One recipient's outcome in an attempt: the next hop that gave it (`relay`), its reply, and the session's TLS. */
interface RecipientOutcome { address: string; relay: string; reply: string; tls?: HopTls }

/** Recipients of one attempt that one next hop settled the same way with one reply: they share a log line. */
interface OutcomeGroup { relay: string; reply: string; to: string[]; tls?: HopTls }

/**
 * The recipients grouped by next hop and reply, in the order first met, as Postfix logs a line per recipient: a
 * helpdesk looking for one finds the reply that concerns it, and a line never quotes another recipient's reply.
 */
function groupByReply(items: Iterable<RecipientOutcome>): OutcomeGroup[] {
  const groups = new Map<string, OutcomeGroup>();
  for (const { address, relay, reply, tls } of items) {
    // Two sessions to one host may differ in TLS (one fell back to plaintext): a line speaks for one.
    const key = `${relay}\n${reply}\n${JSON.stringify(tls ?? null)}`;
    const g = groups.get(key);
    if (g) g.to.push(address); else groups.set(key, { relay, reply, to: [address], ...(tls ? { tls } : {}) });
  }
  return [...groups.values()];
}

/** A line's `tls` field, as Postfix logs `… TLS connection established`: on lines a session answered. */
const tlsField = (g: OutcomeGroup): { tls?: HopTls } => (g.tls ? { tls: g.tls } : {});

/** One destination's share of an attempt: its recipients, the streams read for it, and what its relay answered. */
interface DestinationSend { dest: string; rcpts: string[]; reads: ReadProgress[]; results: RecipientResult[]; unreachable?: boolean; slowDown?: boolean }

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
  /** The TLS of the session that answered each recipient, where one did. */
  hopTls?: Map<string, HopTls>;
  /** The failure notice queued for a recipient by this attempt, by address. */
  notices: Map<string, string>;
  lastReply?: string;
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
  /** When each deferred message is next looked at (its attempt, or a chore before it), by id. */
  private readonly due = new DueHeap();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Every message this queue schedules (ready, deferred or in flight), by id: what the control channel acts on. */
  private readonly live = new Map<string, QueueEntry>();
  /**
   * Destinations held back: none of their servers answered on the last try, or they asked us to slow down (a 421 or
   * a 4.7.x refusal of MAIL FROM while one connection was all we had open to them). While one is held, only its oldest
   * waiting message probes it, and the others (new mail too) wait for the probe; when it answers again, they all go at
   * once, oldest first. Judged per destination: a message with recipients on two routes says nothing of one route by
   * what the other did. A deferred message waits (is on their lists) when every one of its pending recipients is on a
   * held destination; one deferred by a reply of its own (a recipient's 4xx, a connection dropped after its data)
   * while its destination is not held keeps its retry schedule.
   */
  private readonly held = new HeldDestinations();
  /**
   * Messages made due by their destination answering again, not by their schedule: if it turns out down again, that
   * try is not counted, so a flapping destination does not push their retries down the schedule.
   */
  private readonly woken = new Set<string>();
  /** Waiting messages taken early for a chore: if their destination answers meanwhile, they go at once after it. */
  private readonly tookWhileWaiting = new Set<string>();
  /** A further turn of promoteDue is queued (a batch left due messages behind). */
  private promoteQueued = false;
  /**
   * Messages taken from the schedule before their next attempt, for what falls due meanwhile (a delay notice, the end
   * of the lifetime of one waiting for its destination): seen to without sending anything.
   */
  private readonly chores = new Set<string>();
  /** Messages whose last pass failed unexpectedly: no chore until their next attempt, or a failing notice would spin. */
  private readonly choreFailed = new Set<string>();
  /** Messages an admin flushed by id: tried on every destination, down or not. */
  private readonly forced = new Set<string>();
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

  /** A new relay may name destinations otherwise: what was held is forgotten, and its waiting mail keeps its own turns. */
  setRelay(relay: Relay): void {
    this.relay = relay;
    for (const id of this.held.clear()) {
      const e = this.deferred.get(id);
      if (e) this.due.set(id, this.wakeAt(e));
    }
    this.arm(this.due.next);
  }
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
    if (entry.nextAttemptAt > Date.now()) this.defer(entry);
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

  /**
   * Retries now: one message, or every deferred one. As Postfix's flush, a destination held as down is tried again:
   * the whole queue's flush forgets which are down, one message's is tried on each of its destinations.
   */
  async flush(id?: string): Promise<number> {
    const due = id ? [this.deferred.get(id)].filter((x): x is QueueEntry => !!x) : [...this.deferred.values()];
    if (id === undefined) this.held.clear();
    for (const e of due) {
      this.deferred.delete(e.id);
      this.due.delete(e.id);
      this.held.leave(e.id);
      e.nextAttemptAt = Date.now();
      if (id !== undefined) this.forced.add(e.id);
    }
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

  /**
   * Sets aside a message of `folder` whose file is cut short, through this queue's store: its error line goes to the
   * gateway's log and it counts in queue_broken at once (the control socket's own store has neither).
   */
  setAsideIfCut(entry: QueueEntry, folder: QueueFolder): Promise<BrokenMessage | undefined> {
    return this.store.setAsideIfCut(entry, folder);
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
    this.due.delete(id);
    this.held.leave(id);
    this.woken.delete(id);
    this.tookWhileWaiting.delete(id);
    this.chores.delete(id);
    this.choreFailed.delete(id);
    this.forced.delete(id);
    this.unwrittenLogged.delete(id);
    // The list is sorted by id: a scan of it per deleted message made `delete --to` quadratic in the queue's size.
    const i = sortedIndex(this.ready, id);
    if (this.ready[i]?.id === id) this.ready.splice(i, 1);
  }

  private arm(at: number): void {
    if (at >= this.timerAt || this.stopped) return;
    clearTimeout(this.timer);
    // A Node timer fires at once past about 24.8 days: a farther attempt is reached in steps instead.
    this.timerAt = Math.min(at, Date.now() + TIMER_MAX_MS);
    this.timer = setTimeout(() => this.promoteDue(), Math.max(0, this.timerAt - Date.now()));
    this.timer.unref();
  }

  /** The timer for the earliest of what is scheduled: a deferred message's turn or a held destination's probe. */
  private armNext(): void {
    this.arm(Math.min(this.due.next, this.held.nextProbeAt));
  }

  /** The pending recipients of `e` by destination (one destination, '', when the relay names none). */
  private byDestination(addresses: string[]): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const a of addresses) {
      const d = this.destinationOf(a);
      const g = groups.get(d);
      if (g) g.push(a); else groups.set(d, [a]);
    }
    return groups;
  }

  /** The destination `a` is relayed to: '' when the relay names none. */
  private destinationOf(a: string): string {
    return this.relay.destination ? this.relay.destination(a) : '';
  }

  private pendingDestinations(e: QueueEntry): Set<string> {
    const out = new Set<string>();
    for (const r of e.recipients) if (r.status === 'pending') out.add(this.destinationOf(r.address));
    return out;
  }

  /** The destinations `e` waits for when every one of its pending recipients is on a destination held back. */
  private heldDestinations(e: QueueEntry): Set<string> | undefined {
    if (this.held.size === 0) return undefined;
    const dests = this.pendingDestinations(e);
    if (dests.size === 0) return undefined;
    for (const d of dests) if (!this.held.has(d)) return undefined;
    return dests;
  }

  /** Whether a delay notice would be owed about `e` once its age passes delay_after. */
  private delayNoticeOwed(e: QueueEntry): boolean {
    if (this.bouncer.config.delay_notices === 'off') return false;
    if (!e.recipients.some((r) => r.status === 'pending' && wantsNotice(r, 'delay'))) return false;
    return this.bouncer.addressees(e, 'delay').length > 0;
  }

  /**
   * When the first delay notice falls due for a deferred message, before its next attempt perhaps: at delay_after
   * (Postfix's delay_warning_time warns whether or not the message is tried then).
   */
  private choreAt(e: QueueEntry): number {
    if (this.choreFailed.has(e.id) || (e.delayNotices ?? 0) > 0 || !this.delayNoticeOwed(e)) return Infinity;
    return e.receivedAt + this.bouncer.config.delay_after;
  }

  /**
   * When something falls due for a message waiting for held destinations, which is not tried until one of them
   * answers: the end of its lifetime, which the probe's next turn may be hours past, its first delay notice at
   * delay_after, and with `delay_notices: every` a notice at each turn of its own schedule, as a retry would bring.
   * After a pass that failed unexpectedly, nothing before its own next turn.
   */
  private waitingChoreAt(e: QueueEntry): number {
    if (this.choreFailed.has(e.id)) return e.nextAttemptAt;
    const c = this.bouncer.config;
    let at = e.receivedAt + lifetimeOf(e, this.policy).ms;
    if (!this.delayNoticeOwed(e)) return at;
    if ((e.delayNotices ?? 0) === 0) at = Math.min(at, e.receivedAt + c.delay_after);
    else if (c.delay_notices === 'every') at = Math.min(at, Math.max(e.nextAttemptAt, e.receivedAt + c.delay_after));
    return at;
  }

  /** When the timer must look at a deferred message again. */
  private wakeAt(e: QueueEntry): number {
    if (this.held.isWaiting(e.id)) return this.waitingChoreAt(e);
    return Math.min(e.nextAttemptAt, this.choreAt(e));
  }

  /**
   * Takes what is due off the timetable: the probes of held destinations, then deferred messages whose turn (or chore)
   * came. The work is what is due, never the whole queue; a batch at most per turn of the event loop.
   */
  private promoteDue(): void {
    clearTimeout(this.timer);
    this.timerAt = Infinity;
    if (this.stopped) return;
    const now = Date.now();
    const promoted: QueueEntry[] = [];
    let budget = PROMOTE_BATCH;
    for (; budget > 0; budget--) {
      const probe = this.held.takeDueProbe(now);
      if (!probe) break;
      // Only the oldest waiting message tries the destination; the others follow it if it gets through.
      if (probe.id === undefined) continue;
      const e = this.deferred.get(probe.id);
      // Never so (a waiting message is a deferred one), but a probe that cannot start must not leave its destination
      // held with no probe to come.
      if (!e) { this.held.probeEnded(probe.id, now + retryDelay(this.policy.retry_schedule, 1)); continue; }
      this.deferred.delete(e.id);
      this.due.delete(e.id);
      promoted.push(e);
    }
    for (; budget > 0; budget--) {
      const id = this.due.popDue(now);
      if (id === undefined) break;
      const e = this.deferred.get(id);
      if (e) this.turnCame(e, now, promoted);
    }
    mergeSorted(this.ready, promoted);
    if (budget === 0) this.promoteSoon(); else this.armNext();
    this.pump();
  }

  /** Goes on with the messages a full batch left due, once the event loop has served what waits. */
  private promoteSoon(): void {
    if (this.promoteQueued) return;
    this.promoteQueued = true;
    setImmediate(() => { this.promoteQueued = false; this.promoteDue(); });
  }

  /** A deferred message's time came: its attempt, a chore, or (every destination it has being held) more waiting. */
  private turnCame(e: QueueEntry, now: number, promoted: QueueEntry[]): void {
    if (this.held.isWaiting(e.id)) { this.waitingTurn(e, now, promoted); return; }
    if (e.nextAttemptAt > now) {
      if (this.choreAt(e) <= now) this.takeForChore(e, promoted); else this.reschedule(e, now);
      return;
    }
    const waitsFor = this.heldDestinations(e);
    if (waitsFor && !lifetimeOver(e, this.policy, now)) {
      this.held.wait(e.id, waitsFor);
      // Its own turn, skipped: the next one is a step of its schedule on, as a try would have set it. It says so once,
      // in memory (a restart forgets which destinations were held), not at each probe turn as it waits.
      e.nextAttemptAt = now + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
      this.markSuspended(e, new Set(e.recipients.map((r) => r.address)));
      this.takeHeldReply(e);
      this.logHeldBack(e, { qid: e.id, message_id: e.messageId, attempt: e.attempts, ms: 0 });
      if (this.waitingNoticeDue(e, now, true)) this.takeForChore(e, promoted); else this.reschedule(e, now);
      return;
    }
    this.deferred.delete(e.id);
    promoted.push(e);
  }

  /**
   * A waiting message's chore time came. A turn it skips is a retry all the same for what the sender is told: a delay
   * notice that is due goes now, not when the destination comes back. Only its own turns count, one step of its
   * schedule apart, and the first notice at delay_after.
   */
  private waitingTurn(e: QueueEntry, now: number, promoted: QueueEntry[]): void {
    if (this.choreFailed.has(e.id)) {
      if (e.nextAttemptAt > now) { this.reschedule(e, now); return; }
      this.choreFailed.delete(e.id);
    }
    if (lifetimeOver(e, this.policy, now)) { this.takeForChore(e, promoted); return; }
    const ownTurn = e.nextAttemptAt <= now;
    if (ownTurn) e.nextAttemptAt = now + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
    if (this.waitingNoticeDue(e, now, ownTurn)) this.takeForChore(e, promoted); else this.reschedule(e, now);
  }

  /** Whether a delay notice is due now for a message waiting for held destinations (see waitingTurn). */
  private waitingNoticeDue(e: QueueEntry, now: number, ownTurn: boolean): boolean {
    if (this.choreFailed.has(e.id) || !this.delayNoticeOwed(e) || !this.bouncer.delayDue(e, now)) return false;
    return (e.delayNotices ?? 0) === 0 || ownTurn;
  }

  /** Recipients held back for a held destination say so, as Postfix's "delivery temporarily suspended". */
  private markSuspended(e: QueueEntry, addresses: ReadonlySet<string>): void {
    for (const r of e.recipients) {
      if (r.status !== 'pending' || !addresses.has(r.address)) continue;
      const why = this.held.reason(this.destinationOf(r.address));
      if (why === undefined) continue;
      r.reply = `delivery temporarily suspended: ${why}`;
      delete r.remoteMta;
    }
  }

  /** A turn that sent nothing: its pending recipients' reason becomes the message's `lastReply`. */
  private takeHeldReply(e: QueueEntry): void {
    e.lastReply = e.recipients.find((r) => r.status === 'pending' && r.reply)?.reply ?? e.lastReply;
  }

  /** The `deferred` lines of a turn that sent nothing (`relay` none), one per reply. */
  private logHeldBack(e: QueueEntry, fields: Record<string, unknown>): void {
    const pending = e.recipients.filter((r) => r.status === 'pending');
    const next = new Date(Math.max(e.nextAttemptAt, Date.now())).toISOString();
    for (const g of groupByReply(pending.map((r) => ({ address: r.address, relay: 'none', reply: r.reply ?? '' })))) {
      this.log.info('deferred', { ...fields, relay: g.relay, to: g.to, next_attempt: next, reply: g.reply, dsn: e.dsn });
    }
  }

  /** Back on the timetable at its next time (never now again: that would spin). */
  private reschedule(e: QueueEntry, now: number): void {
    const at = this.wakeAt(e);
    this.due.set(e.id, at > now ? at : now + 1000);
  }

  /** Taken before its next attempt for what falls due meanwhile: seen to without sending anything. */
  private takeForChore(e: QueueEntry, promoted: QueueEntry[]): void {
    this.deferred.delete(e.id);
    this.due.delete(e.id);
    if (this.held.leave(e.id)) this.tookWhileWaiting.add(e.id);
    this.chores.add(e.id);
    promoted.push(e);
  }

  /** A held destination answered again: every message waiting for it is due now, oldest first. */
  private wake(d: string): void {
    const due: QueueEntry[] = [];
    for (const id of this.held.release(d)) {
      const e = this.deferred.get(id);
      if (!e) continue;
      this.deferred.delete(id);
      this.due.delete(id);
      this.woken.add(id);
      due.push(e);
    }
    mergeSorted(this.ready, due);
    this.log.info('destination reachable again: retrying its messages now', { destination: d || 'default', count: due.length });
  }

  /**
   * Schedules a message not due now. After a pass of its own (`settled`) that leaves every destination it has held,
   * it waits on their lists at once; otherwise it waits for its turn, which puts it there if they are held then.
   */
  private defer(e: QueueEntry, settled = false): void {
    this.deferred.set(e.id, e);
    const waitsFor = settled ? this.heldDestinations(e) : undefined;
    if (waitsFor) this.held.wait(e.id, waitsFor); else this.held.leave(e.id);
    this.due.set(e.id, this.wakeAt(e));
    this.armNext();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.policy.concurrency && this.ready.length) {
      const e = this.ready.shift()!;
      const p = this.attempt(e).catch((err) => {
        this.log.error('delivery attempt failed unexpectedly; retrying later', { qid: e.id, error: String(err), code: (err as NodeJS.ErrnoException)?.code });
        this.choreFailed.add(e.id);
        e.nextAttemptAt = Date.now() + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
        if (this.live.has(e.id)) this.defer(e);
      }).finally(() => {
        // A destination it probed but sent nothing to (a stop, a set-aside) gets its next probe a first step on.
        this.held.probeEnded(e.id, Date.now() + retryDelay(this.policy.retry_schedule, 1));
        this.armNext();
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
    const dsn = await this.bouncer.notify(e, kind, recipients, e.receivedAt + lifetimeOf(e, this.policy).ms);
    if (dsn) { this.add(dsn); if (kind === 'failure') this.counters?.inc('bounced'); }
    return dsn?.id;
  }

  private async attempt(e: QueueEntry): Promise<void> {
    // A message file cut short (a copy taken while it was written) is set aside, never delivered cut.
    if (await this.store.setAsideIfCut(e)) { this.unschedule(e.id); return; }
    const choreOnly = this.chores.delete(e.id);
    const forced = this.forced.delete(e.id);
    const woken = this.woken.delete(e.id);
    if (!choreOnly) this.choreFailed.delete(e.id);
    const wasAwaiting = this.tookWhileWaiting.delete(e.id);
    const pending = e.recipients.filter((r) => r.status === 'pending').map((r) => r.address);
    const started = Date.now();
    const relay = this.relay;
    // Each destination is sent to on its own, with its own reads, so that what one route did (a body sent, a host
    // that answered) is never taken for what another did. No message tries a destination held back unless it is
    // that destination's probe (or flushed): new mail too waits for the probe, as Postfix's qmgr defers mail for a
    // dead destination at once, rather than a connection each to a host known to be down.
    const sends: DestinationSend[] = [];
    const suspended: string[] = [];
    for (const [dest, rcpts] of this.byDestination(pending)) {
      const holdBack = choreOnly || (this.held.has(dest) && !forced && this.held.probeOf(dest) !== e.id);
      if (holdBack) suspended.push(...rcpts); else sends.push({ dest, rcpts, reads: [], results: [] });
    }
    if (sends.length) {
      this.sending.set(relay, (this.sending.get(relay) ?? 0) + 1);
      try {
        const body = this.store.takeBody(e.id);
        const source = this.store.messageSource(e.id);
        // Settled one by one: one destination's send that throws must not discard what the others' servers took.
        const sent = await Promise.allSettled(sends.map(async (g) => {
          // How far each stream made for this destination was read: any read means a server greeted us (the 7-bit
          // check reads one after EHLO, the body follows a 354), and the last one says where a lost connection left it.
          const message = () => {
            const progress = { started: false, ended: false };
            g.reads.push(progress);
            return outgoingStream(e, source.file, body, source.start, progress);
          };
          g.results = await relay.send(e, g.rcpts, message);
        }));
        sent.forEach((s, i) => {
          if (s.status !== 'rejected') return;
          this.log.warn('relay failed unexpectedly for a destination; its recipients are retried later', { qid: e.id, destination: sends[i].dest || 'default', error: String(s.reason) });
          sends[i].results = sendThrew(sends[i].rcpts, s.reason);
        });
      } finally {
        const n = this.sending.get(relay)! - 1;
        if (n === 0) this.sending.delete(relay); else this.sending.set(relay, n);
      }
    }
    // Recipients a stop kept from being sent, or cut off, stay as they were: no attempt, no reply, no deferral.
    const notAttempted: RecipientResult[] = [];
    for (const g of sends) {
      const skipped = g.results.filter((r) => r.notAttempted);
      if (skipped.length) { notAttempted.push(...skipped); g.results = g.results.filter((r) => !r.notAttempted); }
    }
    let results = sends.flatMap((g) => g.results);
    if (results.length === 0 && notAttempted.length) { this.notAttempted(e, relay, notAttempted[0].reply); return; }
    const heard = sends.filter((g) => g.results.length > 0);
    for (const g of heard) {
      const reached = g.reads.some((p) => p.started);
      const last = g.reads[g.reads.length - 1];
      if (reached) g.results = g.results.map((r) => (r.hostFailure ? { ...r, reply: `${r.reply} ${whereLost(r, last)}` } : r));
      // Down only when no server answered: a connection lost after a greeting is this message's trouble (Postfix's
      // "lost connection with X while sending end of data"), and holding the whole destination for it held back all
      // its mail until this message's next try, and flushed them all at once when any other got through.
      g.unreachable = !reached && g.results.every((r) => r.hostFailure);
      // Its servers answered, asking us to slow down, though we had only one connection open to them (smtp-pool.ts).
      g.slowDown = !g.unreachable && g.results.every((r) => r.slowDown || r.hostFailure) && g.results.some((r) => r.slowDown);
    }
    results = heard.flatMap((g) => g.results);
    // A try made only because the destination seemed back, which found it down again, does not use up a retry.
    const counted = !(woken && heard.length > 0 && heard.every((g) => g.unreachable));
    if (results.length && counted) e.attempts++;
    for (const g of heard) {
      if (g.unreachable || g.slowDown) {
        const reply = (g.results.find((r) => r.slowDown) ?? g.results[0]).reply;
        // Probed again a step of this message's schedule on, when it is new or this was its probe.
        const probeAt = Date.now() + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
        if (this.held.hold(g.dest, reply, probeAt, this.held.probeOf(g.dest) === e.id)) {
          const what = g.unreachable ? 'destination unreachable' : 'destination asks to slow down';
          this.log.warn(`${what}: its other messages wait for this one to get through`, { destination: g.dest || 'default', reply, next_probe: new Date(probeAt).toISOString() });
        }
      } else if (this.held.has(g.dest)) this.wake(g.dest);
    }
    const held = new Set(suspended);
    if (!choreOnly) this.markSuspended(e, held);
    if (results.length === 0 && suspended.length > 0) {
      await this.settleWithoutAttempt(e, { choreOnly, wasAwaiting, started });
      return;
    }
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
      const line = { address: r.address, relay: hops.get(r.address)!, reply: res.reply, tls: res.tls };
      if (res.ok) { r.status = 'delivered'; deliveredNow.push(r.address); settled.delivered.push(line); if (res.relayedWithoutDsn) r.relayNoticeDue = true; }
      else if (res.permanent) { r.status = 'failed'; failedNow.push(`${r.address}: ${res.reply}`); settled.bounced.push(line); }
    }
    // What the message waits on: a deferred recipient's reply first, as `moat queue list` shows it as the reason.
    const heldReply = e.recipients.find((r) => r.status === 'pending' && held.has(r.address))?.reply;
    const lastReply = results.find((r) => !r.ok && !r.permanent)?.reply ?? heldReply ?? results.find((r) => !r.ok)?.reply ?? results[0]?.reply ?? e.lastReply;
    e.lastReply = lastReply;
    if (results.length) e.history.push({ at: started, result: results.map((r) => `${r.address}: ${r.reply}`).join('; ').slice(0, 2000) });
    const fields = { qid: e.id, message_id: e.messageId, attempt: e.attempts, ms: Date.now() - started, ...(counted ? {} : { attempt_counted: false }) };
    const outcome: AttemptOutcome = {
      fields, tried: heard.flatMap((g) => g.rcpts), deliveredNow, failedNow, delivered: groupByReply(settled.delivered), bounced: groupByReply(settled.bounced),
      hops, hopTls: new Map(results.flatMap((r) => (r.tls ? [[r.address, r.tls] as const] : []))), notices: new Map(), lastReply, deferReason: deferralReasonOf(results),
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
   * A pass that sent nothing: every pending recipient is on a destination held back (new mail for it too), or the
   * message was taken early for a chore. Its lifetime may have ended (dead-lettered with its notice, as after an
   * attempt), or a delay notice be due; otherwise it goes back to wait, its retries untouched.
   */
  private async settleWithoutAttempt(e: QueueEntry, how: { choreOnly: boolean; wasAwaiting: boolean; started: number }): Promise<void> {
    const fields = { qid: e.id, message_id: e.messageId, attempt: e.attempts, ms: Date.now() - how.started };
    if (lifetimeOver(e, this.policy)) {
      await this.settleAttempt(e, {
        fields, tried: [], deliveredNow: [], failedNow: [], delivered: [], bounced: [], hops: new Map(), notices: new Map(),
        lastReply: e.lastReply, deferReason: 'other',
      });
      return;
    }
    const pending = e.recipients.filter((r) => r.status === 'pending');
    const delayWanted = pending.filter((r) => wantsNotice(r, 'delay'));
    if (delayWanted.length && this.bouncer.delayDue(e)) {
      if (await this.notify(e, 'delay', delayWanted) !== undefined) e.delayNotices = (e.delayNotices ?? 0) + 1;
    }
    const waiting = this.heldDestinations(e) !== undefined;
    // Its turn now, skipped: its own next one is a step of its schedule on (it goes earlier if the probe gets through).
    if (waiting && e.nextAttemptAt <= Date.now()) e.nextAttemptAt = Date.now() + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
    this.takeHeldReply(e);
    // Its destination answered again while this pass ran: it goes now, with the others that waited for it.
    if (how.wasAwaiting && !waiting) e.nextAttemptAt = Math.min(e.nextAttemptAt, Date.now());
    await this.store.update(e);
    // Said once written, as an attempt's deferral is: a write the disk refused is logged as that instead.
    if (!how.choreOnly) this.logHeldBack(e, fields);
    if (!this.live.has(e.id)) return;
    this.defer(e, true);
  }

  /**
   * An attempt's outcome could not be written (a full disk): the recipients it delivered are marked in reserved room
   * (or kept in memory), so neither the retry nor a restart sends to them again, and the message is retried on its
   * schedule. One line says what the attempt did; the same failure at later retries is not logged again.
   */
  private stateNotWritten(e: QueueEntry, o: AttemptOutcome, err: unknown): void {
    const recorded = this.store.recordDelivered(e, o.deliveredNow);
    e.nextAttemptAt = Date.now() + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
    if (this.live.has(e.id)) this.defer(e, true);
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
    for (const g of o.delivered) this.log.info('delivered', { ...o.fields, relay: g.relay, rcpts: g.to.length, to: g.to, reply: g.reply, ...tlsField(g), dsn: e.dsn });
    for (const g of o.bounced) {
      const notice = g.to.map((a) => o.notices.get(a)).find((id) => id !== undefined);
      this.log.info('bounced', { ...o.fields, relay: g.relay, to: g.to, reply: g.reply, ...tlsField(g), dsn: e.dsn, ...(notice ? { dsn_qid: notice } : {}) });
    }
  }

  /** The rest of an attempt once its replies are applied to the entry: notices, then the state written or the message removed. */
  private async settleAttempt(e: QueueEntry, o: AttemptOutcome): Promise<void> {
    const { fields, lastReply } = o;
    const expired = lifetimeOver(e, this.policy);
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
        // The message's end: every recipient it failed, earlier attempts' too and those its lifetime ran out on. Mail
        // from <> given up on its own, shorter lifetime says so: an admin looking for lost notices greps for it.
        const bounceExpired = expired && lifetimeOf(e, this.policy).key === 'queue.bounce_lifetime';
        const why = bounceExpired ? 'bounce lifetime expired' : expired ? 'lifetime expired' : 'permanent failure';
        this.log.warn(`${why}: moved to dead-letter`, {
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
    const deferred = stillPending.map((r) => ({ address: r.address, relay: o.hops.get(r.address) ?? 'none', reply: r.reply ?? lastReply ?? '', tls: o.hopTls?.get(r.address) }));
    for (const g of groupByReply(deferred)) this.log.info('deferred', { ...fields, relay: g.relay, to: g.to, next_attempt: next, reply: g.reply, ...tlsField(g), dsn: e.dsn });
    if (!this.live.has(e.id)) return;
    // One whose every destination is held waits on their lists, and is also due when its lifetime ends.
    this.defer(e, true);
  }
}

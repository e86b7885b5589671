// Relay workers: deliver queued messages oldest first, retry on a schedule, dead-letter after the lifetime or on 5xx.
import type { QueueEntry } from './entry.ts';
import type { QueueStore } from './queue-store.ts';
import type { Relay, RecipientResult } from '../relay/types.ts';
import type { Logger } from '../log/types.ts';
import { outgoingStream } from '../relay/outgoing-stream.ts';

export interface DeliveryPolicy {
  retry_schedule: number[];
  lifetime: number;
  concurrency: number;
}

/** Delay before attempt number `attempts + 1`, from the schedule; its last step repeats. */
export function retryDelay(schedule: number[], attempts: number): number {
  if (schedule.length === 0) return 900_000;
  return schedule[Math.min(attempts - 1, schedule.length - 1)];
}

function insertSorted(list: QueueEntry[], e: QueueEntry): void {
  let lo = 0, hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].id < e.id) lo = mid + 1; else hi = mid; }
  list.splice(lo, 0, e);
}

export class DeliveryQueue {
  private readonly store: QueueStore;
  private relay: Relay;
  private policy: DeliveryPolicy;
  private readonly log: Logger;
  private readonly ready: QueueEntry[] = [];
  private readonly deferred = new Map<string, QueueEntry>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(store: QueueStore, relay: Relay, policy: DeliveryPolicy, log: Logger) {
    this.store = store;
    this.relay = relay;
    this.policy = policy;
    this.log = log.child({ component: 'delivery' });
  }

  setRelay(relay: Relay): void { this.relay = relay; }
  setPolicy(policy: DeliveryPolicy): void { this.policy = policy; this.pump(); }

  get size(): number { return this.ready.length + this.deferred.size + this.inFlight.size; }

  /** Adds a committed message; it is due now unless its nextAttemptAt says otherwise. */
  add(entry: QueueEntry): void {
    if (this.stopped) return;
    if (entry.held) return;
    if (entry.nextAttemptAt > Date.now()) { this.deferred.set(entry.id, entry); this.arm(entry.nextAttemptAt); }
    else insertSorted(this.ready, entry);
    this.pump();
  }

  /** Retries now: one message, or every deferred one. */
  flush(id?: string): number {
    const due = id ? [this.deferred.get(id)].filter((x): x is QueueEntry => !!x) : [...this.deferred.values()];
    for (const e of due) { this.deferred.delete(e.id); e.nextAttemptAt = Date.now(); insertSorted(this.ready, e); }
    this.pump();
    return due.length;
  }

  /** Takes a message out of the in-memory schedule (hold or delete from the CLI); false if it is being delivered now. */
  forget(id: string): boolean {
    if (this.inFlight.has(id)) return false;
    this.deferred.delete(id);
    const i = this.ready.findIndex((e) => e.id === id);
    if (i >= 0) this.ready.splice(i, 1);
    return true;
  }

  /** Resolves when nothing is in flight and nothing is due (tests and shutdown). */
  idle(): Promise<void> {
    if (this.inFlight.size === 0 && this.ready.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private arm(at: number): void {
    if (at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.promoteDue(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private promoteDue(): void {
    this.timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [id, e] of this.deferred) {
      if (e.nextAttemptAt <= now) { this.deferred.delete(id); insertSorted(this.ready, e); }
      else next = Math.min(next, e.nextAttemptAt);
    }
    if (next < Infinity) this.arm(next);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.policy.concurrency && this.ready.length) {
      const e = this.ready.shift()!;
      const p = this.attempt(e).catch((err) => {
        this.log.error('delivery attempt failed unexpectedly; retrying later', { qid: e.id, error: String(err) });
        e.nextAttemptAt = Date.now() + retryDelay(this.policy.retry_schedule, Math.max(1, e.attempts));
        this.deferred.set(e.id, e);
        this.arm(e.nextAttemptAt);
      }).finally(() => {
        this.inFlight.delete(e.id);
        this.pump();
        if (this.inFlight.size === 0 && this.ready.length === 0) { const w = this.idleWaiters; this.idleWaiters = []; w.forEach((f) => f()); }
      });
      this.inFlight.set(e.id, p);
    }
  }

  private async attempt(e: QueueEntry): Promise<void> {
    const pending = e.recipients.filter((r) => r.status === 'pending').map((r) => r.address);
    const started = Date.now();
    const results: RecipientResult[] = pending.length
      ? await this.relay.send(e, pending, () => outgoingStream(e, this.store.emlPath(e.id)))
      : [];
    e.attempts++;
    const byAddr = new Map(results.map((r) => [r.address, r]));
    for (const r of e.recipients) {
      const res = byAddr.get(r.address);
      if (!res) continue;
      r.reply = res.reply;
      if (res.ok) r.status = 'delivered';
      else if (res.permanent) r.status = 'failed';
    }
    const lastReply = results.find((r) => !r.ok)?.reply ?? results[0]?.reply;
    e.lastReply = lastReply;
    e.history.push({ at: started, result: results.map((r) => `${r.address}: ${r.reply}`).join('; ').slice(0, 2000) });
    const stillPending = e.recipients.filter((r) => r.status === 'pending');
    const failed = e.recipients.filter((r) => r.status === 'failed');
    const fields = { qid: e.id, relay: this.relay.name, attempt: e.attempts, ms: Date.now() - started };

    if (stillPending.length === 0) {
      if (failed.length === 0) {
        await this.store.remove(e.id);
        this.log.info('delivered', { ...fields, rcpts: e.recipients.length, reply: lastReply });
      } else {
        await this.store.commitTo('deadletter', e);
        this.log.warn('permanent failure: moved to dead-letter', { ...fields, failed: failed.map((r) => `${r.address}: ${r.reply}`) });
      }
      return;
    }
    if (Date.now() - e.receivedAt >= this.policy.lifetime) {
      for (const r of stillPending) r.status = 'failed';
      await this.store.commitTo('deadletter', e);
      this.log.warn('lifetime expired: moved to dead-letter', { ...fields, reply: lastReply });
      return;
    }
    e.nextAttemptAt = Date.now() + retryDelay(this.policy.retry_schedule, e.attempts);
    await this.store.update(e);
    this.log.info('deferred', { ...fields, next_attempt: new Date(e.nextAttemptAt).toISOString(), reply: lastReply });
    this.deferred.set(e.id, e);
    this.arm(e.nextAttemptAt);
  }
}

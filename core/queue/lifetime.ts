// How long the queue keeps trying a message before it gives up on it: queue.lifetime, or for mail from the null
// sender queue.bounce_lifetime (Postfix's bounce_queue_lifetime).
import type { QueueEntry } from './entry.ts';

export interface LifetimePolicy {
  lifetime: number;
  /** Unset: mail from <> lives as long as any other. */
  bounce_lifetime?: number;
}

/** Which setting ends a message's tries: the log line of its expiry names it. */
export type LifetimeKey = 'queue.lifetime' | 'queue.bounce_lifetime';

/**
 * The lifetime of `e` in ms, and the key it comes from. A message from <> (a notice, ours or relayed) can only be given
 * up, never returned, so an admin may want it gone sooner; it never lives longer than other mail, as Postfix caps
 * bounce_queue_lifetime at maximal_queue_lifetime.
 */
export function lifetimeOf(e: Pick<QueueEntry, 'mailFrom'>, policy: LifetimePolicy): { ms: number; key: LifetimeKey } {
  const bounce = policy.bounce_lifetime;
  if (e.mailFrom === '' && bounce !== undefined && bounce < policy.lifetime) return { ms: bounce, key: 'queue.bounce_lifetime' };
  return { ms: policy.lifetime, key: 'queue.lifetime' };
}

/** Whether `e`'s lifetime has run out by `now`. */
export function lifetimeOver(e: Pick<QueueEntry, 'mailFrom' | 'receivedAt'>, policy: LifetimePolicy, now = Date.now()): boolean {
  return now - e.receivedAt >= lifetimeOf(e, policy).ms;
}

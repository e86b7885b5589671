// Mail the gateway writes itself for a plugin (the rules plugin's notices): queued durably from the null sender, then
// delivered, retried and dead-lettered as any queued message, never run through the plugin chain. The same way the
// quarantine digest and the DSNs are queued.
import type { QueueEntry } from './entry.ts';
import type { QueueStore } from './queue-store.ts';
import { newQueueId } from './queue-id.ts';
import { isAscii } from '../text/ascii.ts';

export interface OwnMailQueue {
  /** Where the message is kept until it is delivered. */
  store: Pick<QueueStore, 'enqueue'>;
  /** Hands the entry, once on disk, to delivery. */
  schedule(entry: QueueEntry): void;
  hostname(): string;
}

/**
 * Queues `data` (a whole message, CRLF line ends) for `to` and returns its queue id once it is on disk. The envelope
 * sender is always `<>`: a failure to deliver it is logged and dead-lettered, never answered with a notice, so no
 * loop of notices can start from it. Throws when it cannot be written.
 */
export async function queueOwnMail(q: OwnMailQueue, to: readonly string[], data: Buffer): Promise<string> {
  if (to.length === 0) throw new Error('own mail needs at least one recipient');
  const hostname = q.hostname();
  const now = Date.now();
  const entry: QueueEntry = {
    id: newQueueId(), mailFrom: '', recipients: to.map((address) => ({ address, status: 'pending' })),
    prepend: '', remove: [], receivedAt: now, size: data.length,
    client: { ip: '127.0.0.1', helo: hostname }, authenticated: false,
    attempts: 0, nextAttemptAt: now, history: [],
    // Its own To names its addressee: an address beyond ASCII needs SMTPUTF8, as for a notice.
    ...(to.some((a) => !isAscii(a)) ? { smtputf8: true } : {}),
  };
  await q.store.enqueue(entry, data);
  q.schedule(entry);
  return entry.id;
}

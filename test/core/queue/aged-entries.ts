// Messages queued in a data_dir by the queue's own code, as a gateway leaves them, with the age a test needs: how long
// ago each was received is set in its envelope, which is all the queue knows of a message's age.
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { newQueueId } from '../../../core/queue/queue-id.ts';
import type { QueueEntry, QueueRecipient } from '../../../core/queue/entry.ts';

export interface AgedMessage {
  from: string;
  /** Pending recipients, or recipients with their state. */
  to: Array<string | Pick<QueueRecipient, 'address' | 'status'>>;
  ageMs: number;
  held?: boolean;
  /** Tried before: the queue holds it in a file of its own (a state file), not in the journal. */
  attempts?: number;
  /** A notice the gateway wrote itself. */
  dsn?: QueueEntry['dsn'];
}

/** Queues `messages` in `dataDir` (taking the queue over, as a start does) and gives their entries, in order. */
export async function queueAged(dataDir: string, messages: AgedMessage[], now = Date.now()): Promise<QueueEntry[]> {
  const store = new QueueStore(dataDir);
  await store.recover();
  try {
    const out: QueueEntry[] = [];
    for (const m of messages) {
      const recipients = m.to.map((r) => (typeof r === 'string' ? { address: r, status: 'pending' as const } : { ...r }));
      const body = Buffer.from(`From: <${m.from || 'MAILER-DAEMON@relay.example'}>\r\nTo: <${recipients[0].address}>\r\nSubject: aged ${Math.round(m.ageMs / 60_000)}m\r\n\r\nwaiting\r\n`);
      const e: QueueEntry = {
        id: newQueueId(), mailFrom: m.from, recipients, prepend: '', remove: [], receivedAt: now - m.ageMs, size: body.length,
        client: { ip: '192.0.2.1' }, authenticated: false, attempts: m.attempts ?? 0, nextAttemptAt: now, history: [],
        ...(m.held ? { held: true } : {}), ...(m.dsn ? { dsn: m.dsn } : {}),
      };
      // A message never tried sits in the journal; one tried or held has files of its own, as after its first change.
      if (e.attempts === 0 && !e.held) await store.commitJournaled(e, body);
      else await store.enqueue(e, body);
      out.push(e);
    }
    return out;
  } finally { store.close(); }
}

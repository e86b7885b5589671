// What the journal tests append: an entry for one recipient with the given id and size, and a small body.
import type { QueueEntry } from '../../../core/queue/entry.ts';

export function entry(id: string, size: number): QueueEntry {
  return {
    id, mailFrom: 'a@client.example', recipients: [{ address: 'u@example.com', status: 'pending' }], prepend: '', remove: [],
    receivedAt: Date.now(), size, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
  };
}

/** The body of message `i`: its Subject names it, and its length tells it from the others. */
export const body = (i: number): Buffer => Buffer.from(`Subject: message ${i}\r\n\r\n${'x'.repeat(100 + i)}\r\n`);

// Queue files for the restore tests, written by the queue's own code as a gateway writes them: journal records, and
// spooled messages with their envelope sealed (and a state file once their state changed).
import { writeFileSync } from 'node:fs';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { newQueueId } from '../../../core/queue/queue-id.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';

function entry(size: number): QueueEntry {
  return {
    id: newQueueId(), mailFrom: 'ann@client.example', recipients: [{ address: 'bob@example.com', status: 'pending' }], prepend: '', remove: [],
    receivedAt: Date.now(), size, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
  };
}

const message = (subject: string, bodyBytes: number) => Buffer.from(`From: ann@client.example\r\nTo: bob@example.com\r\nSubject: ${subject}\r\n\r\n${'y'.repeat(bodyBytes)}\r\n`);

/** Opens the data_dir's queue as a start does, lets `fill` write to it, and closes it. */
export async function writeQueue<T>(dataDir: string, fill: (store: QueueStore) => Promise<T>): Promise<T> {
  const store = new QueueStore(dataDir);
  await store.recover();
  try { return await fill(store); } finally { store.close(); }
}

/** A small message in the journal, due now; its id. */
export async function addJournaled(store: QueueStore, subject: string): Promise<string> {
  const body = message(subject, 300);
  const e = entry(body.length);
  await store.commitJournaled(e, body);
  return e.id;
}

/** `count` small messages in the journal of `dataDir`, their Subjects `journaled 0`, `journaled 1`…; their ids in order. */
export function writeJournaled(dataDir: string, count: number): Promise<string[]> {
  return writeQueue(dataDir, async (store) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(await addJournaled(store, `journaled ${i}`));
    return ids;
  });
}

/** A large message spooled to its own file and sealed; with `state`, its state then changed (a .json written). */
export async function addSpooled(store: QueueStore, subject: string, bodyBytes: number, state?: Partial<QueueEntry>): Promise<QueueEntry> {
  const data = message(subject, bodyBytes);
  const e = entry(data.length);
  writeFileSync(store.emlPath(e.id), data);
  await store.commit(e);
  if (!state) return e;
  const changed = { ...e, ...state };
  await store.update(changed);
  return changed;
}

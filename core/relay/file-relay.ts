// The embedded default when no smarthost is set: accepted mail is written as .eml files under data_dir/delivered/.
import type { Readable } from 'node:stream';
import type { QueueEntry } from '../queue/entry.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { RecipientResult, Relay } from './types.ts';

export class FileRelay implements Relay {
  readonly name = 'file';
  private readonly store: QueueStore;
  constructor(store: QueueStore) { this.store = store; }

  async send(entry: QueueEntry, recipients: string[], message: () => Readable): Promise<RecipientResult[]> {
    try {
      const file = await this.store.writeDelivered(entry.id, message());
      return recipients.map((address) => ({ address, ok: true, permanent: false, reply: `250 written to ${file}`, relay: 'file' }));
    } catch (e) {
      const reply = `451 4.3.0 cannot write delivered file: ${(e as Error).message}`;
      return recipients.map((address) => ({ address, ok: false, permanent: false, reply, relay: 'file' }));
    }
  }
  async close(): Promise<void> {}
}

// Group commit for directory fsyncs: callers that arrive while one is running share the next one.
import { open } from 'node:fs/promises';

export class DirSync {
  private readonly dir: string;
  private running?: Promise<void>;
  private next?: Promise<void>;

  constructor(dir: string) { this.dir = dir; }

  /** Resolves once a directory fsync that started after this call has completed. */
  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.doSync().finally(() => { this.running = undefined; });
      return this.running;
    }
    // One is in flight: it may have started before our entry was created, so wait for the following one.
    this.next ??= this.running.catch(() => undefined).then(() => {
      this.next = undefined;
      return this.sync();
    });
    return this.next;
  }

  private async doSync(): Promise<void> {
    const fh = await open(this.dir, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  }
}

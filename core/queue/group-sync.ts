// Group commit: callers that arrive while a sync runs share the next one, so a burst of commits costs two syncs, not one each.
import { fdatasync, fsync } from 'node:fs';
import { promisify } from 'node:util';

export const fsyncFd = promisify(fsync);
export const fdatasyncFd = promisify(fdatasync);

export class GroupSync {
  private readonly run: () => Promise<void>;
  private running?: Promise<void>;
  private next?: Promise<void>;

  constructor(run: () => Promise<void>) { this.run = run; }

  /** Resolves once a run that started after this call has completed. */
  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.run().finally(() => { this.running = undefined; });
      return this.running;
    }
    // One is in flight: it may have started before our write, so wait for the following one.
    this.next ??= this.running.catch(() => undefined).then(() => {
      this.next = undefined;
      return this.sync();
    });
    return this.next;
  }

  /** Nothing in flight or queued: the file a run syncs may be closed now. */
  get idle(): boolean { return !this.running && !this.next; }
}

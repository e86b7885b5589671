// Group commit for directory fsyncs: callers that arrive while one is running share the next one.
import { closeSync, fsync, openSync } from 'node:fs';
import { promisify } from 'node:util';

const fsyncFd = promisify(fsync);

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
    // Opening and closing are synchronous (microseconds); only the fsync itself goes to the thread pool.
    const fd = openSync(this.dir, 'r');
    try { await fsyncFd(fd); } finally { closeSync(fd); }
  }
}

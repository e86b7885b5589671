// Group commit for directory fsyncs, so new and renamed entries survive a power cut.
import { closeSync, openSync } from 'node:fs';
import { GroupSync, fsyncFd } from './group-sync.ts';

export class DirSync extends GroupSync {
  constructor(dir: string) {
    super(async () => {
      // Opening and closing are synchronous (microseconds); only the fsync itself goes to the thread pool.
      const fd = openSync(dir, 'r');
      try { await fsyncFd(fd); } finally { closeSync(fd); }
    });
  }
}

// Whether the queue's filesystem has room, for the readiness check: a write the disk refused (ENOSPC, EDQUOT) marks it
// full; a message committed, or a probe write, marks it usable again. The probe is needed because a load balancer
// that takes the gateway out of rotation on a 503 sends it no more mail to succeed with.
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';

export const STORAGE_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** Least time between probe writes while the disk is marked full (a health check may come every second). */
const PROBE_INTERVAL_MS = 5000;
/** A probe writes about what a small message needs, so "room" means room for mail, not for one byte. */
const PROBE_BYTES = 64 * 1024;

export function isStorageFull(err: unknown): boolean {
  return STORAGE_FULL_CODES.has((err as NodeJS.ErrnoException)?.code ?? '');
}

/** What counts the messages a full disk refused (the gateway's Metrics): `disk_full_refusals`. */
interface RefusalCounter { inc(name: string): void }

const REFUSED_DISK_FULL = 'disk_full_refusals';

export class StorageHealth {
  private readonly dir: string;
  private readonly counter?: RefusalCounter;
  private full: { code: string; since: number } | undefined;
  private lastProbe = 0;
  private probing: Promise<void> | undefined;

  /** `dir`: a folder on the queue's filesystem, where the probe file is written and removed. */
  constructor(dir: string, counter?: RefusalCounter) { this.dir = dir; this.counter = counter; }

  /** Notes a write that failed a message, which is refused; only a full disk or quota counts (and is counted). */
  noteFailure(err: unknown): void {
    if (!isStorageFull(err)) return;
    this.counter?.inc(REFUSED_DISK_FULL);
    this.markFull(err);
  }

  /** A message refused before it was sent, since the disk is marked full (MAIL FROM): counted with the others. */
  noteRefusal(): void { this.counter?.inc(REFUSED_DISK_FULL); }

  /** Whether the disk is marked full now (no probe): problem() then says whether it still is. */
  get markedFull(): boolean { return !!this.full; }

  private markFull(err: unknown): void {
    if (!isStorageFull(err)) return;
    this.full ??= { code: (err as NodeJS.ErrnoException).code!, since: Date.now() };
  }

  noteSuccess(): void { this.full = undefined; }

  /** Why the queue cannot take mail now, or undefined; while marked full, probes at most every PROBE_INTERVAL_MS. */
  async problem(): Promise<string | undefined> {
    if (this.full && Date.now() - this.lastProbe >= PROBE_INTERVAL_MS) {
      this.lastProbe = Date.now();
      await (this.probing ??= this.probe().finally(() => { this.probing = undefined; }));
    }
    return this.full ? `disk full (${this.full.code}) since ${new Date(this.full.since).toISOString()}` : undefined;
  }

  private async probe(): Promise<void> {
    const file = path.join(this.dir, `.space-probe-${process.pid}`);
    try {
      const fh = await open(file, 'w');
      try {
        await fh.write(Buffer.alloc(PROBE_BYTES));
        await fh.sync();
      } finally { await fh.close(); }
      this.noteSuccess();
    } catch (e) {
      this.markFull(e);
    } finally {
      await unlink(file).catch(() => undefined);
    }
  }
}

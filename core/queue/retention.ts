// How long the quarantine and the dead-letter folder keep a message (Proxmox Mail Gateway's quarantine lifetime):
// kept for ever, both grow until the disk is full, and the queue then answers 452 to every client.
import type { Logger } from '../log/types.ts';

type Folder = 'quarantine' | 'deadletter';

/** The longest pause between two sweeps; a short lifetime (in tests, say) is swept more often. */
const SWEEP_EVERY_MS = 3_600_000;

export interface RetentionOptions {
  /** Each folder's lifetime in ms as the running config says (read at every sweep, so a reload applies); null: kept. */
  lifetimes(): Record<Folder, number | null | undefined>;
  /** Deletes the folder's messages that entered it before `before`; returns their ids (ControlServer.expire). */
  expire(folder: Folder, before: number, stopping: () => boolean): Promise<string[]>;
  /**
   * Called once a sweep has expired messages from a folder, before the next folder: the gauges recount it then
   * (QueueGauges.recount), rather than trail a sweep of hundreds by their next look.
   */
  swept?(folder: Folder): Promise<void>;
  log: Logger;
}

export interface Retention { stop(): Promise<void> }

/** Sweeps both folders now and then every hour (a quarter of the shortest lifetime, when that is shorter). */
export function startRetention(o: RetentionOptions): Retention {
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const interval = () => {
    const set = Object.values(o.lifetimes()).filter((v): v is number => typeof v === 'number');
    return Math.max(1000, Math.min(SWEEP_EVERY_MS, ...set.map((v) => v / 4)));
  };
  const sweep = async () => {
    for (const [folder, lifetime] of Object.entries(o.lifetimes()) as Array<[Folder, number | null | undefined]>) {
      if (stopped || typeof lifetime !== 'number') continue;
      try {
        const gone = await o.expire(folder, Date.now() - lifetime, () => stopped);
        if (gone.length) {
          // Counted again before the line says so: a scrape after it sees the folder as the sweep left it.
          await o.swept?.(folder);
          o.log.info('retention sweep', { folder, expired: gone.length, lifetime_ms: lifetime });
        }
      } catch (e) {
        o.log.warn('retention sweep failed; tried again at the next one', { folder, error: (e as Error).message });
      }
    }
  };
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => { running = sweep().then(next); }, interval());
    timer.unref();
  };
  running = sweep().then(next);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

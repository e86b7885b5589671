// A turn of the event loop that runs for seconds holds every client at once, and what shows in the log is only its
// consequences (`plugin timed out`, idle timeouts) far from the cause. This watch says it once per blocked turn, and
// names the plugin hook whose synchronous part ran that long when the runner saw one.
import type { Logger } from './types.ts';

/** A turn that held the loop at least this long is logged and counted. */
export const BLOCKED_TURN_MS = 1000;
/** How often the watch's timer asks for a turn; a blocked turn delays it by the block's length less at most this. */
const TICK_MS = 250;

interface LongSection { plugin: string; hook: string; endedAt: number }

/** The last plugin hook whose synchronous part ran for a blocked turn's length. */
let lastLong: LongSection | undefined;

/**
 * Runs `call`, the synchronous start of a plugin's handler, and notes it when it held the loop for a blocked turn's
 * length. Two clock reads per call: what an async handler does after its first await is not seen.
 */
export function runNoted<T>(plugin: string, hook: string, call: () => T): T {
  const started = performance.now();
  try {
    return call();
  } finally {
    const ended = performance.now();
    if (ended - started >= BLOCKED_TURN_MS) lastLong = { plugin, hook, endedAt: ended };
  }
}

/**
 * Starts the watch: a timer of its own, unref'd so it never keeps the process up; the function returned stops it.
 * Each blocked turn is one warning (`event loop blocked`, with `blocked_ms`, and `plugin` and `hook` when a handler's
 * synchronous part ended within it) and one count of `event_loop_blocked`.
 */
export function watchEventLoop(log: Logger, metrics: { inc(name: string): void }): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const before = last;
    last = performance.now();
    const blocked = last - before - TICK_MS;
    if (blocked < BLOCKED_TURN_MS) return;
    const by = lastLong && lastLong.endedAt > before ? lastLong : undefined;
    metrics.inc('event_loop_blocked');
    log.warn('event loop blocked: no client was served meanwhile', {
      blocked_ms: Math.round(blocked), ...(by ? { plugin: by.plugin, hook: by.hook } : {}),
    });
  }, TICK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

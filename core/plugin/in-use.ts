// Counts the hook runs and deliveries under way in one config generation's plugin chain and relay, so a reload can
// close what it replaced as soon as nothing uses it any more, rather than after a fixed grace period.
import type { Relay } from '../relay/types.ts';
import type { LoadedPlugin } from './loader.ts';

/** Each tracked chain's counter: the hook runner and message intake hold a chain through it. */
const byChain = new WeakMap<readonly LoadedPlugin[], InUse>();

/**
 * Counts `plugins` as in use until the returned function is called: a hook run, from its first handler to its
 * last, or a message from its DATA to its verdict (seconds apart for a large one).
 */
export function holdChain(plugins: readonly LoadedPlugin[]): () => void {
  const use = byChain.get(plugins);
  if (!use) return () => undefined;
  use.enter();
  let held = true;
  return () => { if (held) { held = false; use.leave(); } };
}

export class InUse {
  private running = 0;
  private quiet?: { ms: number; done: () => void; timer?: NodeJS.Timeout };

  /** Counts the hook runs of `plugins` (see holdChain). */
  trackChain(plugins: readonly LoadedPlugin[]): void { byChain.set(plugins, this); }

  /** Counts the deliveries `relay.send` has under way (it is wrapped in place: each reload makes a relay of its own). */
  trackRelay(relay: Relay): void {
    const send = relay.send.bind(relay);
    (relay as { send: Relay['send'] }).send = (entry, recipients, message) => {
      this.enter();
      let sending: ReturnType<Relay['send']>;
      try { sending = send(entry, recipients, message); } catch (e) { this.leave(); throw e; }
      return sending.finally(() => this.leave());
    };
  }

  enter(): void {
    this.running++;
    if (this.quiet?.timer) { clearTimeout(this.quiet.timer); this.quiet.timer = undefined; }
  }

  leave(): void {
    if (--this.running === 0) this.armQuiet();
  }

  /**
   * Calls `done` once nothing has run here for `ms`: a plugin may still finish work its hook started (a lesson it
   * learns after answering) for a moment after the hook returned.
   */
  whenQuiet(ms: number, done: () => void): void {
    this.quiet = { ms, done };
    if (this.running === 0) this.armQuiet();
  }

  private armQuiet(): void {
    const q = this.quiet;
    if (!q) return;
    q.timer = setTimeout(() => { this.quiet = undefined; q.done(); }, q.ms);
    q.timer.unref();
  }
}

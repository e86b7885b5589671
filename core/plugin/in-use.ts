// Counts the hook calls and deliveries running in one config generation's plugin instances and relay, so a reload
// can close what it replaced as soon as nothing uses it any more, rather than after a fixed grace period.
import type { Relay } from '../relay/types.ts';
import type { LoadedPlugin } from './loader.ts';

/** Each tracked chain's counter, for code that holds a chain across awaits of its own (a message being spooled). */
const byChain = new WeakMap<readonly LoadedPlugin[], InUse>();

/**
 * Counts `plugins` as in use until the returned function is called: a message read the chain when its DATA began
 * and runs its hooks once it is spooled, seconds later for a large one, and the chain must not be closed meanwhile.
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
  private lastSettled = Date.now();

  enter(): void { this.running++; }
  leave(): void { this.settle(); }

  /**
   * Gives each instance of `plugins` a hooks object whose handlers count their calls. A new object, not the
   * instance's own rewritten: a plugin may hand every instance the same module-level hooks object, which each reload
   * would otherwise wrap once more, counting every later call in every earlier generation too.
   */
  trackPlugins(plugins: LoadedPlugin[]): void {
    byChain.set(plugins, this);
    for (const p of plugins) {
      const counted: Record<string, unknown> = {};
      for (const [name, handler] of Object.entries(p.instance.hooks as Record<string, unknown>)) {
        counted[name] = typeof handler === 'function' ? (ctx: never) => this.count(() => (handler as (c: never) => unknown)(ctx)) : handler;
      }
      (p.instance as { hooks: unknown }).hooks = counted;
    }
  }

  /** Wraps `relay.send` (in place) so that deliveries in progress are counted. */
  trackRelay(relay: Relay): void {
    const send = relay.send.bind(relay);
    (relay as { send: Relay['send'] }).send = (entry, recipients, message) => this.count(() => send(entry, recipients, message)) as ReturnType<Relay['send']>;
  }

  /**
   * True when nothing runs, and nothing has for `quietMs` since `since` (the swap): the hook runner awaits between one
   * plugin's handler and the next one's, so a chain that read the old list may be between two handlers for a moment.
   */
  idleFor(quietMs: number, since: number): boolean {
    return this.running === 0 && Date.now() - Math.max(this.lastSettled, since) >= quietMs;
  }

  private count(call: () => unknown): unknown {
    this.running++;
    let result: unknown;
    try { result = call(); } catch (e) { this.settle(); throw e; }
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      return (result as Promise<unknown>).then(
        (v) => { this.settle(); return v; },
        (e) => { this.settle(); throw e; },
      );
    }
    this.settle();
    return result;
  }

  private settle(): void {
    this.running--;
    this.lastSettled = Date.now();
  }
}

// The timer functions of a plain plugin's sandbox, keeping count of what the plugin left running. Haraka exits after
// its shutdown, so a plugin that never clears its setInterval costs nothing there; here the entry closes on every
// reload and at stop, and such a timer would run on (and keep the process up) with no entry left to own it.

/** A plain plugin's timers: the functions its sandbox gets, and what is still pending of them. */
export interface PluginTimers {
  readonly globals: {
    setTimeout: typeof setTimeout; setInterval: typeof setInterval; setImmediate: typeof setImmediate;
    clearTimeout: typeof clearTimeout; clearInterval: typeof clearInterval; clearImmediate: typeof clearImmediate;
  };
  /** Clears every timer still pending and says how many there were. */
  clearLeft(): number;
}

export function pluginTimers(): PluginTimers {
  // Each pending timer with the function that clears its kind (clearImmediate on a Timeout would upset Node's count).
  const live = new Map<NodeJS.Timeout | NodeJS.Immediate, () => void>();
  const once = <T extends NodeJS.Timeout | NodeJS.Immediate>(make: (done: () => void) => T, clear: (t: T) => void): T => {
    const t: T = make(() => live.delete(t));
    live.set(t, () => clear(t));
    return t;
  };
  // A timer's callback runs with the plugin's own arguments; `done` only drops it from the pending set first.
  const globals: PluginTimers['globals'] = {
    setTimeout: ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) =>
      once((done) => setTimeout(() => { done(); fn(...args); }, ms), (t) => clearTimeout(t))) as typeof setTimeout,
    setImmediate: ((fn: (...a: unknown[]) => void, ...args: unknown[]) =>
      once((done) => setImmediate(() => { done(); fn(...args); }), (t) => clearImmediate(t))) as typeof setImmediate,
    setInterval: ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const t = setInterval(fn, ms, ...args);
      live.set(t, () => clearInterval(t));
      return t;
    }) as typeof setInterval,
    clearTimeout: (t) => { if (t) live.delete(t as NodeJS.Timeout); clearTimeout(t); },
    clearInterval: (t) => { if (t) live.delete(t as NodeJS.Timeout); clearInterval(t); },
    clearImmediate: (t) => { if (t) live.delete(t); clearImmediate(t); },
  };
  return {
    globals,
    clearLeft() {
      let n = 0;
      for (const [t, clear] of live) {
        // An unref'd timer holds nothing up; it is still the plugin's and goes with it.
        if (t.hasRef()) n++;
        clear();
      }
      live.clear();
      return n;
    },
  };
}

/** Where a plugin keeps its timers: its own sandbox's, and those of the plugins it inherits from (run as it). */
const TIMERS = Symbol('haraka.timers');

export function adoptTimers(plugin: Record<symbol, unknown>, timers: readonly PluginTimers[]): void {
  const list = (plugin[TIMERS] ??= []) as PluginTimers[];
  list.push(...timers);
}

export function timersOf(plugin: Record<symbol, unknown>): readonly PluginTimers[] {
  return (plugin[TIMERS] as PluginTimers[] | undefined) ?? [];
}

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

type Callback = (this: unknown, ...a: unknown[]) => void;

export function pluginTimers(): PluginTimers {
  // Each pending timer with the function that clears its kind (clearImmediate on a Timeout would upset Node's count).
  const live = new Map<NodeJS.Timeout | NodeJS.Immediate, () => void>();
  const once = <T extends NodeJS.Timeout | NodeJS.Immediate>(make: (done: () => void) => T, clear: (t: T) => void): T => {
    const t: T = make(() => live.delete(t));
    live.set(t, () => clear(t));
    return t;
  };
  // A clear by the timer's number (`clearTimeout(+t)`, as Node allows) finds it by that number, so it leaves `live`.
  const forget = (t: unknown): void => {
    if (t === null || t === undefined) return;
    if (typeof t === 'object') { live.delete(t as NodeJS.Timeout); return; }
    for (const k of live.keys()) if (Symbol.toPrimitive in k && String(+k) === String(t)) live.delete(k);
  };
  // A callback that is no function is refused now, by Node's own check (its TypeError, in the plugin's call, which the
  // shim catches), rather than thrown later from inside the timer, where nothing catches it. The callback runs with
  // the plugin's own arguments and Node's `this` (the timer); `done` only drops it from the pending set first.
  const globals: PluginTimers['globals'] = {
    setTimeout: ((fn: Callback, ms?: number, ...args: unknown[]) => {
      if (typeof fn !== 'function') return setTimeout(fn, ms);
      return once((done) => setTimeout(function (this: unknown) { done(); fn.apply(this, args); }, ms), (t) => clearTimeout(t));
    }) as typeof setTimeout,
    setImmediate: ((fn: Callback, ...args: unknown[]) => {
      if (typeof fn !== 'function') return setImmediate(fn);
      return once((done) => setImmediate(function (this: unknown) { done(); fn.apply(this, args); }), (t) => clearImmediate(t));
    }) as typeof setImmediate,
    setInterval: ((fn: Callback, ms?: number, ...args: unknown[]) => {
      const t = setInterval(fn, ms, ...args);
      live.set(t, () => clearInterval(t));
      return t;
    }) as typeof setInterval,
    clearTimeout: (t) => { forget(t); clearTimeout(t); },
    clearInterval: (t) => { forget(t); clearInterval(t); },
    clearImmediate: (t) => { forget(t); clearImmediate(t); },
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

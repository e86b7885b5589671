// Haraka's hook runner (run_hooks/run_next_hook) as one async function: next() adapted here, once, with its guards.
import { constants, type Any } from './cjs.ts';
import type { HookRegistry } from './registry.ts';

export interface HookResult {
  /** A haraka-constants return code (CONT when every plugin passed). */
  retval: number;
  /** The message of the last callback: a string, lines, or a haraka-dsn DSN. */
  msg: Any;
  /** The plugin whose answer decided (absent when no plugin answered). */
  plugin?: string;
  method?: string;
}

/** Hooks that run even after the client went, and cancel nothing. */
const REQUIRED = new Set(['reset_transaction', 'disconnect', 'log']);
/** Hooks whose every plugin runs whatever the answers. */
const RUN_ALL = new Set(['connect_init', 'disconnect']);
const DENIES = new Set([constants.deny, constants.denysoft, constants.denydisconnect, constants.denysoftdisconnect]);

export function isDeny(retval: number): boolean {
  return DENIES.has(retval);
}

function gone(obj: Any): boolean {
  return obj?.constructor?.name === 'Connection' && obj.state >= constants.connection.state.DISCONNECTING;
}

/**
 * Calls one plugin method with a `next` callback and resolves with its first answer.
 * A second call is logged and ignored; `limitMs` (the plugin's timeout, 0 for none) answers DENYSOFT; a synchronous
 * throw answers CONT.
 */
export function callPlugin(plugin: Any, method: string, hook: string, obj: Any, params: Any, limitMs: number): Promise<HookResult> {
  return new Promise((resolve) => {
    let answered = false;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const next = (retval?: number, msg?: Any): void => {
      if (answered) {
        if (!timedOut) obj.logerror?.(`${plugin.name} plugin ran callback multiple times - ignoring subsequent calls`, new Error('second next()'));
        return;
      }
      answered = true;
      if (timer) clearTimeout(timer);
      obj.current_hook = null;
      resolve({ retval: retval || constants.cont, msg, plugin: plugin.name, method });
    };
    if (hook !== 'log' && limitMs > 0) {
      timer = setTimeout(() => {
        // Fields as well as Haraka's words: a log search for the plugin or the hook finds the line.
        obj.logcrit?.(`Plugin ${plugin.name} timed out on hook ${hook} - make sure it calls the callback`,
          { haraka_plugin: plugin.name, haraka_hook: hook, haraka_method: method, timeout_ms: limitMs });
        next(constants.denysoft, 'plugin timeout');
        timedOut = true;
      }, limitMs);
    }
    try {
      obj.current_hook = [plugin, method];
      obj.hook = hook;
      const ret = plugin[method].call(plugin, next, obj, params);
      // Haraka leaves a rejected async hook hanging until its timeout; keep that, but never crash the process.
      if (ret && typeof ret.then === 'function') {
        ret.then(undefined, (err: Error) => obj.logcrit?.(`Plugin ${plugin.name} failed:`, err));
      }
    } catch (err) {
      obj.logcrit?.(`Plugin ${plugin.name} failed:`, err);
      next();
    }
  });
}

/**
 * Runs every plugin registered on `hook` against `obj` (a Connection or the Server) and returns the deciding answer.
 * DENY* answers first go through the `deny` hook, whose OK cancels them (karma, delay_deny).
 */
export async function runHook(registry: HookRegistry, hook: string, obj: Any, params?: Any): Promise<HookResult> {
  const queue = registry.queue(hook);
  let last: HookResult = { retval: constants.cont, msg: undefined };
  while (queue.length) {
    if (gone(obj) && !REQUIRED.has(hook)) return { retval: constants.cont, msg: undefined };
    const [plugin, method] = queue.shift()!;
    if (obj.transaction?.notes?.skip_plugins?.includes(plugin.name)) {
      last = { retval: constants.cont, msg: undefined, plugin: plugin.name, method };
      continue;
    }
    const r = await callPlugin(plugin, method, hook, obj, params, registry.limitMs(plugin));
    if (gone(obj) && !REQUIRED.has(hook)) return { retval: constants.cont, msg: undefined };
    last = r;
    if (queue.length && (r.retval === constants.cont || RUN_ALL.has(hook))) continue;
    if (isDeny(r.retval) && !hook.startsWith('init_') && hook !== 'deny') {
      const d = await runHook(registry, 'deny', obj, [r.retval, r.msg, plugin.name, method, params, hook]);
      if (d.retval === constants.ok) {
        obj.loginfo?.(`deny(soft?) overridden by deny hook${d.msg ? `: ${d.msg}` : ''}`);
        if (queue.length) continue;
        return { retval: constants.cont, msg: d.msg };
      }
    }
    return r;
  }
  return last;
}

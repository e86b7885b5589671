// The hooks Haraka itself runs (its plugins.md list and every run_hooks of Haraka 3), to tell a misspelt hook, which
// runs nowhere, from one Haraka runs and Mailmoat does not. Haraka registers any name without a word.
import type { HookRegistry } from './registry.ts';

export const HARAKA_HOOKS: ReadonlySet<string> = new Set([
  'init_master', 'init_child', 'init_http', 'init_wss', 'connect_init', 'lookup_rdns', 'connect', 'capabilities',
  'unrecognized_command', 'disconnect', 'helo', 'ehlo', 'quit', 'vrfy', 'noop', 'rset', 'mail', 'rcpt', 'rcpt_ok',
  'data', 'data_post', 'max_data_exceeded', 'queue', 'queue_outbound', 'queue_ok', 'reset_transaction', 'deny',
  'get_mx', 'deferred', 'bounce', 'delivered', 'send_email', 'pre_send_trans_email', 'log',
]);

/** Levenshtein distance, for the suggestion of a misspelt hook name (names are short: the table is small). */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** The Haraka hook `name` is most likely a misspelling of, if one is close enough to say so. */
function closestHook(name: string): string | undefined {
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const hook of HARAKA_HOOKS) {
    const d = distance(name, hook);
    if (d < bestDistance) { best = hook; bestDistance = d; }
  }
  return best;
}

interface UnknownHook { plugin: string; hook: string; method: string; suggestion?: string }

/** `found` in the order the plugins registered them, without the order itself. */
function inRegistrationOrder<T extends { order: number }>(found: T[]): Array<Omit<T, 'order'>> {
  return found.sort((a, b) => a.order - b.order).map(({ order: _, ...rest }) => rest);
}

/** Registrations of names Haraka never runs (a typo in `register_hook` or a `hook_…` method), in registration order. */
export function unknownHooks(registry: HookRegistry): UnknownHook[] {
  const out: Array<UnknownHook & { order: number }> = [];
  for (const [hook, entries] of registry.hooks) {
    if (HARAKA_HOOKS.has(hook)) continue;
    const suggestion = closestHook(hook);
    for (const e of entries) out.push({ plugin: e.plugin, hook, method: e.method, order: e.order, ...(suggestion ? { suggestion } : {}) });
  }
  return inRegistrationOrder(out);
}

/**
 * Registrations whose method the plugin does not have (`register_hook('data_post', 'no_such_method')`): Haraka logs
 * a TypeError on each call, the shim's registry skips them, so the load is the one moment to say it.
 */
export function missingMethods(registry: HookRegistry): Array<{ plugin: string; hook: string; method: string }> {
  const out: Array<{ plugin: string; hook: string; method: string; order: number }> = [];
  for (const [hook, entries] of registry.hooks) {
    for (const e of entries) {
      const plugin = registry.plugins.get(e.plugin);
      if (plugin && typeof plugin[e.method] !== 'function') out.push({ plugin: e.plugin, hook, method: e.method, order: e.order });
    }
  }
  return inRegistrationOrder(out);
}

// How long the core waits for the shim in one Mailmoat hook: derived from the Haraka plugins that hook runs, so that a
// plugin that hangs gets Haraka's own answer (DENYSOFT `plugin timeout`, its name in the log) before the core gives
// up on the whole entry with its 451. A second number for the admin to keep in step would fall out of step.
import type { HookName } from '../../core/index.ts';
import { isDiscardHook } from './discard.ts';
import type { HookRegistry } from './registry.ts';
import { ALSO_RUN, HOOK_MAP } from './session.ts';

/**
 * Milliseconds one call of `hook` may take: the entry's `timeout` for the shim's own work (feeding the message, the
 * PTR lookup), plus the limit of every plugin the call may run one after the other, as the registry holds them now
 * (late registrations count). Each plugin's DENY runs the `deny` hook (runner.ts), and one whose OK overrides it
 * (delay_deny, karma) lets the next plugin deny again: every plugin may cost a run of `deny` as well.
 */
export function hookDeadline(registry: HookRegistry, hook: HookName, entryTimeoutMs: number): number {
  let deny = 0;
  for (const [plugin] of registry.queue('deny')) deny += registry.limitMs(plugin);
  let total = entryTimeoutMs;
  for (const h of [...HOOK_MAP[hook], ...(ALSO_RUN[hook] ?? [])]) {
    for (const [plugin] of registry.queue(h)) total += registry.limitMs(plugin) + deny;
  }
  // The data hook ends with queue/discard's decision (discard.ts), which runs no `deny`: the other queue hooks never run.
  if (hook === 'data') {
    for (const q of ['queue', 'queue_outbound']) {
      for (const e of registry.hooks.get(q) ?? []) {
        if (isDiscardHook(registry, q, e)) total += registry.limitMs(registry.plugins.get(e.plugin));
      }
    }
  }
  return total;
}

// Haraka hooks a plugin registered that the shim never runs (outbound delivery, queueing, log and http ones):
// a plugin whose work lies there does nothing in a gateway, and the admin should hear so at start, not find out later.
// queue/discard's hooks are the exception: the shim runs them for their decision (discard.ts).
import { isDiscardHook } from './discard.ts';
import { HARAKA_HOOKS } from './hook-names.ts';
import type { HookRegistry } from './registry.ts';
import { HOOK_MAP } from './session.ts';

/** Every Haraka hook the shim runs: the session's table, plus init_master at creation and deny inside every refusal. */
export const RUN_HOOKS: ReadonlySet<string> = new Set([...Object.values(HOOK_MAP).flat(), 'init_master', 'deny']);

/** Hooks single-process Haraka never runs either: not worth a word. */
const NOT_IN_HARAKA_EITHER: ReadonlySet<string> = new Set(['init_child']);

/** Per plugin, in load order: the hooks it registered that never run here (and would in Haraka). */
export function idleHooks(registry: HookRegistry): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of registry.plugins.keys()) out.set(name, []);
  for (const [hook, entries] of registry.hooks) {
    // A name Haraka does not know either is a misspelling, said on its own (hook-report.ts).
    if (RUN_HOOKS.has(hook) || NOT_IN_HARAKA_EITHER.has(hook) || !HARAKA_HOOKS.has(hook)) continue;
    for (const e of entries) {
      if (isDiscardHook(registry, hook, e)) continue;
      const list = out.get(e.plugin) ?? [];
      if (!list.includes(hook)) list.push(hook);
      out.set(e.plugin, list);
    }
  }
  for (const [name, list] of out) if (!list.length) out.delete(name);
  return out;
}

/** Whether the plugin registered any hook the shim runs. */
export function runsSomething(registry: HookRegistry, plugin: string): boolean {
  for (const [hook, entries] of registry.hooks) {
    if (entries.some((e) => e.plugin === plugin && (RUN_HOOKS.has(hook) || isDiscardHook(registry, hook, e)))) return true;
  }
  return false;
}

// What the admin hears at load about the hooks a folder's plugins registered that will not do what they seem to:
// a method the plugin lacks, a name no Haraka hook has, and hooks Haraka runs but a gateway never does.
import type { Logger } from '../../core/index.ts';
import { missingMethods, unknownHooks } from './hook-names.ts';
import { idleHooks, runsSomething } from './idle-hooks.ts';
import type { HookRegistry } from './registry.ts';

export function reportHooks(registry: HookRegistry, dir: string, log: Pick<Logger, 'info' | 'warn' | 'error'>): void {
  for (const m of missingMethods(registry)) {
    log.error(`haraka plugin ${m.plugin} registered method ${m.method} for hook ${m.hook}, but has no such method: the hook never runs it (Haraka fails it on every call)`,
      { dir, haraka_plugin: m.plugin, hook: m.hook, method: m.method });
  }
  for (const u of unknownHooks(registry)) {
    const hint = u.suggestion ? ` (did you mean ${u.suggestion}?)` : '';
    log.warn(`haraka plugin ${u.plugin} registered ${u.hook}, which is no Haraka hook${hint}: neither Haraka nor Mailmoat ever runs it`,
      { dir, haraka_plugin: u.plugin, hook: u.hook, method: u.method, ...(u.suggestion ? { did_you_mean: u.suggestion } : {}) });
  }
  // Outbound, queue and log hooks never run here (Mailmoat queues, relays and logs itself): a plugin working only
  // there (queue/smtp_forward, a leftover of a Haraka that delivered the mail) does nothing, and the admin is told.
  for (const [plugin, hooks] of idleHooks(registry)) {
    if (runsSomething(registry, plugin)) {
      log.info(`haraka plugin ${plugin}: Haraka would run some of its hooks, Mailmoat does not (it queues, relays and logs itself)`, { dir, hooks: [...hooks] });
    } else {
      log.warn(`haraka plugin ${plugin} does nothing here: Mailmoat never runs the hooks it registered`, { dir, hooks: [...hooks] });
    }
  }
}

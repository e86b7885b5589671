// The hook registry of one Haraka folder: live and ordered by (priority, registration order), as Haraka's loader keeps it.
import type { Any } from './cjs.ts';

export interface RegisteredHook {
  plugin: string;
  method: string;
  priority: number;
  order: number;
}

export class HookRegistry {
  readonly hooks = new Map<string, RegisteredHook[]>();
  /** Registered plugins by short name, in load order. */
  readonly plugins = new Map<string, Any>();
  /**
   * The limit of a plugin whose own timeout is 0 (none, in Haraka): the entry's `timeout`, so that such a plugin still
   * answers Haraka's DENYSOFT, named in the log, rather than leaving the core to cut the whole entry off. Unset: none.
   */
  fallbackTimeoutMs = 0;
  private order = 0;

  /** Adds a hook in its sorted place; plugins may call this after start-up (asn's async register). */
  add(hook: string, plugin: string, method: string, priority: unknown): void {
    let p = Number.parseInt(String(priority), 10);
    if (!p) p = 0;
    p = Math.max(-100, Math.min(100, p));
    const entry = { plugin, method, priority: p, order: this.order++ };
    const list = this.hooks.get(hook) ?? [];
    let at = list.length;
    while (at > 0 && list[at - 1].priority > p) at--;
    list.splice(at, 0, entry);
    this.hooks.set(hook, list);
  }

  /** The [plugin, method] pairs of a hook at this moment. */
  queue(hook: string): Array<[Any, string]> {
    const out: Array<[Any, string]> = [];
    for (const h of this.hooks.get(hook) ?? []) {
      const plugin = this.plugins.get(h.plugin);
      if (plugin && typeof plugin[h.method] === 'function') out.push([plugin, h.method]);
    }
    return out;
  }

  /** How long one call of `plugin` may take before it answers DENYSOFT: its Haraka timeout, else the fallback. */
  limitMs(plugin: Any): number {
    const own = Number(plugin?.timeout);
    return own > 0 ? own * 1000 : this.fallbackTimeoutMs;
  }

  has(hook: string): boolean {
    return (this.hooks.get(hook)?.length ?? 0) > 0;
  }
}

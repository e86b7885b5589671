// What GET /health/ready asks besides the gateway's own state: each running plugin that has a `health`, and the state
// store when it is a server.
import type { LoadedPlugin } from '../plugin/loader.ts';
import type { PluginEntry } from '../config/gateway-schema.ts';
import type { StateStore } from '../store/types.ts';
import type { HealthProblem } from '../plugin/define.ts';
import type { DependencyCheck } from './readiness.ts';

export interface CheckedParts {
  /** The running chain, read at each round: a reload's instances are the ones asked. */
  plugins(): readonly LoadedPlugin[];
  /** The running config's plugin entries, for what they say a store failure makes of mail. */
  entries(): readonly PluginEntry[];
  store: StateStore;
}

/**
 * What a store outage makes of mail. A plugin that reads the store says in its entry what it does when it cannot
 * (greylist and user-lists: `on_store_error`); one set to `tempfail` defers every message it checks, so the outage
 * takes the gateway out of the pool. Otherwise the checks do without (greylist passes, Bayes does not learn).
 */
function storeOutageEffect(parts: CheckedParts): HealthProblem['effect'] {
  const running = new Set(parts.plugins().map((p) => p.name));
  return parts.entries().some((e) => running.has(e.name) && e.on_store_error === 'tempfail') ? 'tempfail' : 'degraded';
}

function storeCheck(parts: CheckedParts, unavailableBecause: (timeoutMs: number) => Promise<string | undefined>): DependencyCheck {
  return {
    name: 'state store',
    async run(timeoutMs) {
      const problem = await unavailableBecause(timeoutMs);
      if (problem === undefined) return undefined;
      const effect = storeOutageEffect(parts);
      const meanwhile = effect === 'tempfail' ? 'a plugin with on_store_error: tempfail defers mail' : 'checks that use it do without';
      return { problem: `${problem}; ${meanwhile}`, effect };
    },
  };
}

/** The checks of this moment's chain; a second instance of a plugin is named `plugin clamav #2`. */
export function readinessChecks(parts: CheckedParts): DependencyCheck[] {
  const checks: DependencyCheck[] = [];
  const seen = new Map<string, number>();
  for (const p of parts.plugins()) {
    const n = (seen.get(p.name) ?? 0) + 1;
    seen.set(p.name, n);
    const health = p.instance.health?.bind(p.instance);
    if (health) checks.push({ name: n === 1 ? `plugin ${p.name}` : `plugin ${p.name} #${n}`, run: health });
  }
  const store = parts.store;
  if (store.unavailableBecause) checks.push(storeCheck(parts, store.unavailableBecause.bind(store)));
  return checks;
}

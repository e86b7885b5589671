// What GET /health/ready asks besides the gateway's own state: each running plugin that has a `health`, and the state
// store when it is a server that no running plugin answers for.
import type { LoadedPlugin } from '../plugin/loader.ts';
import type { StateStore } from '../store/types.ts';
import type { HealthProblem, PluginInstance } from '../plugin/define.ts';
import type { DependencyCheck } from './readiness.ts';

type Health = NonNullable<PluginInstance['health']>;

export interface CheckedParts {
  /** The running chain, read at each round: a reload's instances are the ones asked. */
  plugins(): readonly LoadedPlugin[];
  store: StateStore;
}

/** The `health` functions `stateStoreHealth` made: a plugin whose instance has one answers for the store. */
const answersForStore = new WeakSet<Health>();

/** The store's answer under way, shared by the plugins asking in one round, so that Redis gets one PING, not one each. */
const asking = new WeakMap<StateStore, Promise<string | undefined>>();

function storeProblem(store: StateStore, timeoutMs: number): Promise<string | undefined> {
  let answer = asking.get(store);
  if (!answer) {
    answer = store.unavailableBecause!(timeoutMs).finally(() => asking.delete(store));
    asking.set(store, answer);
  }
  return answer;
}

/**
 * The `health` of a plugin that reads the state store: the store's problem, with what the plugin makes of mail while
 * it lasts, as its own `on_store_error` says (`effect`, `meanwhile`). Undefined for a store that is no server: the
 * embedded file fails with the disk, which readiness watches already. While such a plugin runs, the store is not
 * checked again under its own name.
 */
export function stateStoreHealth(store: StateStore, effect: HealthProblem['effect'], meanwhile: string): Health | undefined {
  if (!store.unavailableBecause) return undefined;
  const health: Health = async (timeoutMs) => {
    const problem = await storeProblem(store, timeoutMs);
    return problem === undefined ? undefined : { problem: `${problem}; ${meanwhile}`, effect };
  };
  answersForStore.add(health);
  return health;
}

/**
 * The store asked for itself, when no running plugin answers for it: the checks that use it without saying what an
 * outage makes of mail (Bayes learning, rate limits) do without, so at worst the gateway is degraded.
 */
function storeCheck(store: StateStore): DependencyCheck {
  return {
    name: 'state store',
    async run(timeoutMs) {
      const problem = await storeProblem(store, timeoutMs);
      return problem === undefined ? undefined : { problem: `${problem}; checks that use it do without`, effect: 'degraded' };
    },
  };
}

/** The checks of this moment's chain; a second instance of a plugin is named `plugin clamav #2`. */
export function readinessChecks(parts: CheckedParts): DependencyCheck[] {
  const checks: DependencyCheck[] = [];
  const seen = new Map<string, number>();
  let storeAnswered = false;
  for (const p of parts.plugins()) {
    const n = (seen.get(p.name) ?? 0) + 1;
    seen.set(p.name, n);
    const health = p.instance.health;
    if (!health) continue;
    if (answersForStore.has(health)) storeAnswered = true;
    checks.push({ name: n === 1 ? `plugin ${p.name}` : `plugin ${p.name} #${n}`, run: health.bind(p.instance) });
  }
  if (parts.store.unavailableBecause && !storeAnswered) checks.push(storeCheck(parts.store));
  return checks;
}

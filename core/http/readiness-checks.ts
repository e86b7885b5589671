// What GET /health/ready asks besides the gateway's own state: each running plugin that has a `health`, the state
// store when it is a server that no running plugin answers for, and DNS when the config needs it.
import type { LoadedPlugin } from '../plugin/loader.ts';
import type { StateStore } from '../store/types.ts';
import type { HealthProblem, PluginInstance } from '../plugin/define.ts';
import type { DependencyCheck } from './readiness.ts';
import { DnsError, type DnsResolver } from '../dns/types.ts';
import type { LookupStats, RecentQueries } from '../dns/stats.ts';
import type { RoutesConfig } from '../relay/route-config.ts';
import type { EntryLike } from '../plugin/loader.ts';
import { dnsOutageMeanwhile, dnsUse, type DnsUse } from '../plugin/dns-users.ts';

type Health = NonNullable<PluginInstance['health']>;

/** What of the config says who asks the resolver. */
type DnsConfigView = { plugins: readonly EntryLike[]; routes: RoutesConfig };

export interface CheckedParts {
  /** The running chain, read at each round: a reload's instances are the ones asked. */
  plugins(): readonly LoadedPlugin[];
  store: StateStore;
  /** The resolver's outcomes and the resolver running now, with the config that says what needs it; no DNS check without. */
  dns?: { stats: LookupStats; resolver(): DnsResolver; config(): DnsConfigView };
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
export async function readinessChecks(parts: CheckedParts): Promise<DependencyCheck[]> {
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
  const use = parts.dns && await dnsUseOf(parts.dns.config());
  if (use) checks.push(dnsCheck(parts.dns!, use));
  return checks;
}

/** Fewest queries that can show DNS down, in a row or in the last 30 s: one lookup that timed out is no outage. */
const DNS_MIN_QUERIES = 5;
/** The share of the last 30 s' queries with no answer (SERVFAIL, REFUSED, a timeout; never NXDOMAIN) that is an outage. */
const DNS_FAILED_SHARE = 0.9;

/** The stats of a resolver found down at its last round: down until a query is answered again. */
const dnsDown = new WeakSet<LookupStats>();

/** Who asks the resolver under a config, by the config object (a reload brings a new one). */
const uses = new WeakMap<object, Promise<DnsUse | undefined>>();

/**
 * Who asks the resolver and what its outage makes of mail, as `moat doctor` judges it (core/plugin/dns-users.ts):
 * `tempfail` when a plugin then defers every message (a blocklist with on_error: tempfail answers every client 421),
 * `degraded` when mail is still taken (checks that go without, deliveries to MX hosts that wait).
 */
function dnsUseOf(config: DnsConfigView): Promise<DnsUse | undefined> {
  let use = uses.get(config);
  if (!use) {
    use = dnsUse(config);
    uses.set(config, use);
  }
  return use;
}

/**
 * DNS is down when the latest DNS_MIN_QUERIES queries or more got no answer, or nearly all of at least as many in the
 * last 30 s did, the latest among them; it stays so until a query is answered. Once a balancer has taken the gateway
 * out no mail asks any more, so while down each round asks the latest name that failed again (within the check's
 * time): answers coming back show without mail, and an outage that goes on does not flap back to ready once its 30 s
 * of failures have aged out.
 */
function dnsCheck(dns: NonNullable<CheckedParts['dns']>, use: DnsUse): DependencyCheck {
  return {
    name: 'dns',
    async run(timeoutMs) {
      const seen = dns.stats.recent();
      const failing = seen.failedInARow >= DNS_MIN_QUERIES || (seen.queries >= DNS_MIN_QUERIES && seen.failed >= seen.queries * DNS_FAILED_SHARE);
      if (!seen.lastFailed || !seen.lastFailure || (!failing && !dnsDown.has(dns.stats))) { dnsDown.delete(dns.stats); return undefined; }
      if (await answered(dns.resolver(), seen.lastFailure, timeoutMs)) { dnsDown.delete(dns.stats); return undefined; }
      dnsDown.add(dns.stats);
      return { problem: dnsProblem(dns.stats.recent(), seen.lastFailure, use), effect: use.effect };
    },
  };
}

function dnsProblem(seen: RecentQueries, asked: NonNullable<RecentQueries['lastFailure']>, use: DnsUse): string {
  const latest = seen.lastFailure ?? asked;
  const counts = seen.queries ? `${seen.failed} of ${seen.queries} queries in the last 30 s got no answer; ` : '';
  return `DNS: ${counts}the latest, ${latest.type} ${latest.name}: ${latest.error}; meanwhile ${dnsOutageMeanwhile(use)}`;
}

/** The resolver's lookup for a record type, as the plugins call it. */
function lookupOf(resolver: DnsResolver, type: string): (name: string) => Promise<unknown> {
  const byType: Record<string, ((name: string) => Promise<unknown>) | undefined> = {
    A: resolver.resolve4, AAAA: resolver.resolve6, MX: resolver.resolveMx, TXT: resolver.resolveTxt,
    PTR: resolver.resolvePtr, NS: resolver.resolveNs, CNAME: resolver.resolveCname,
  };
  return (byType[type] ?? resolver.resolve4).bind(resolver);
}

/** Whether `query` gets an answer within `timeoutMs`: records, or none of the type, or no such name. */
async function answered(resolver: DnsResolver, query: { name: string; type: string }, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
  try {
    const asked = lookupOf(resolver, query.type)(query.name).then(() => true, (e: unknown) => e instanceof DnsError && e.notFound);
    return await Promise.race([asked, late]);
  } finally {
    clearTimeout(timer);
  }
}

// Who in a config asks the gateway's DNS resolver, and what its outage makes of mail: `moat doctor` checks the
// resolver, and GET /health/ready watches it, only when something does. A clamav-only gateway passes its mail on
// with every resolver dead, and must not fail a check or leave a balancer's pool for it.
import type { Issue } from '../config/schema.ts';
import type { HealthProblem } from './define.ts';
import { importPlugin, pluginOptions, PROJECT_DIR, type EntryLike } from './loader.ts';
import { RouteTable } from '../relay/routes.ts';
import type { RoutesConfig } from '../relay/route-config.ts';

type Effect = HealthProblem['effect'];

/** One part of the config that asks the resolver. */
export interface DnsUser {
  kind: 'plugin' | 'route';
  /** As a line names it: `plugin rbl`, `route far.test via mx`. */
  who: string;
  /** What an outage makes of mail through this part. */
  effect: Effect;
}

export interface DnsUse {
  /** The worst of the users' effects: `tempfail` when any defers every message meanwhile. */
  effect: Effect;
  users: DnsUser[];
}

/**
 * What an outage makes of mail through one plugin entry, as its definition declares (`dnsOutage`). An entry whose
 * module does not load, or whose options are in error, is taken to defer: nothing says it does not, and its own
 * error is said elsewhere.
 */
async function pluginEffect(entry: EntryLike, index: number, projectDir: string): Promise<Effect | undefined> {
  try {
    const def = await importPlugin(entry, projectDir);
    if (!def.dnsOutage) return undefined;
    const issues: Issue[] = [];
    const cfg = def.configSchema.parse(pluginOptions(entry), `plugins[${index}]`, issues);
    return issues.length ? 'tempfail' : def.dnsOutage(cfg);
  } catch {
    return 'tempfail';
  }
}

/**
 * Who in `config` asks the resolver: plugins that declare it, and routes via mx (mail is still taken; its deliveries
 * wait). A smarthost's own name is looked up by the system when connecting, not by this resolver. Undefined when
 * nothing does.
 */
export async function dnsUse(config: { plugins: readonly EntryLike[]; routes: RoutesConfig }, projectDir = PROJECT_DIR): Promise<DnsUse | undefined> {
  const users: DnsUser[] = [];
  for (const [i, entry] of config.plugins.entries()) {
    const effect = await pluginEffect(entry, i, projectDir);
    if (effect) users.push({ kind: 'plugin', who: `plugin ${entry.name}`, effect });
  }
  for (const route of new RouteTable(config.routes).all()) {
    if (route.via === 'mx') users.push({ kind: 'route', who: `route ${route.key || '*'} via mx`, effect: 'degraded' });
  }
  if (!users.length) return undefined;
  return { effect: users.some((u) => u.effect === 'tempfail') ? 'tempfail' : 'degraded', users };
}

/** What mail gets while the resolver gets no answers, and through whom: `mail is deferred with 4xx (plugin rbl)`. */
export function dnsOutageMeanwhile(use: DnsUse): string {
  const who = (pick: (u: DnsUser) => boolean) => use.users.filter(pick).map((u) => u.who).join(', ');
  if (use.effect === 'tempfail') return `mail is deferred with 4xx (${who((u) => u.effect === 'tempfail')})`;
  const checks = who((u) => u.kind === 'plugin');
  const routes = who((u) => u.kind === 'route');
  return [checks && `checks that look names up go without answers (${checks})`, routes && `deliveries to MX hosts wait (${routes})`]
    .filter(Boolean).join('; ');
}

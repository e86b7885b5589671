// Mail still waiting, in the queue or the quarantine, for a domain a reload took out of `domains`. It is delivered
// all the same, by whatever route the new config gives that domain: a walkthrough saw it go, without a word, to the
// default smarthost, which was not where that domain's mail belonged any more.
import type { GatewayConfig } from '../config/gateway-schema.ts';
import { localDomainSet } from '../config/domain-warnings.ts';
import { RouteTable } from '../relay/routes.ts';
import { comparableDomain } from '../text/idn-address.ts';
import type { QueueEntry } from './entry.ts';
import type { QueueStore } from './queue-store.ts';

export interface RemovedDomainMail {
  domain: string;
  /** Messages with a recipient at `domain` still to deliver. */
  queued: number;
  /** Messages held in the quarantine for a recipient at `domain`. */
  quarantined: number;
  /** The route that mail now takes, in words. */
  route: string;
}

/** How many of `entries` have a recipient at `domain` whose delivery is still to come. */
function waitingFor(entries: QueueEntry[], domain: string): number {
  return entries.filter((e) => e.recipients.some((r) => r.status === 'pending' && comparableDomain(r.address.slice(r.address.lastIndexOf('@') + 1)) === domain)).length;
}

function routeInWords(config: GatewayConfig, domain: string): string {
  const route = new RouteTable(config.routes).lookup(domain);
  if (route.key === '') return `the default route (${config.smarthost ? 'the smarthost' : 'files under data_dir/delivered'})`;
  return route.key === '*' ? 'the "*" route' : `the route ${JSON.stringify(route.key)}`;
}

/** Each domain in `before`'s `domains` and not in `after`'s that has mail waiting; nothing is read when none was removed. */
export async function removedDomainMail(before: GatewayConfig, after: GatewayConfig, store: QueueStore): Promise<RemovedDomainMail[]> {
  const kept = localDomainSet(after);
  const removed = [...localDomainSet(before)].filter((d) => !kept.has(d));
  if (removed.length === 0) return [];
  const [queue, quarantine] = await Promise.all([store.list('queue'), store.list('quarantine')]);
  return removed
    .map((domain) => ({ domain, queued: waitingFor(queue, domain), quarantined: waitingFor(quarantine, domain), route: routeInWords(after, domain) }))
    .filter((m) => m.queued + m.quarantined > 0);
}

/** The reload report's line for `m`. */
export function removedDomainWarning(m: RemovedDomainMail): string {
  return `domains: ${JSON.stringify(m.domain)} was taken out while ${m.queued} message(s) in the queue and ${m.quarantined} in the quarantine wait for it: `
    + `that mail now goes by ${m.route}; put the domain back, or give it a route, if its mail belongs elsewhere`;
}

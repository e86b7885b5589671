// Builds the gateway's relay from the config: the main smarthost (or files), wrapped in the route table and size cap when set.
import type { GatewayConfig } from '../config/gateway-schema.ts';
import type { DnsResolver } from '../dns/types.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { Relay } from './types.ts';
import { FileRelay } from './file-relay.ts';
import { smarthostRelay } from './fallback-relay.ts';
import { MxRelay } from './mx-relay.ts';
import { RouteRelay } from './route-relay.ts';
import { RouteTable, type Route } from './routes.ts';
import { smarthostTarget, smarthostTargets, type SmarthostTarget } from './smarthost.ts';
import type { Logger } from '../log/types.ts';
import type { OutgoingSigner } from '../dkim/outgoing.ts';
import { outgoingSigner, type OutgoingCounters } from '../dkim/outgoing-signer.ts';
import { ownListeners, type OwnListener } from './own-listeners.ts';

/** Where a smarthost route sends its mail (its first smarthost, or `url` of its list), with its TLS and AUTH settings. */
export function routeTarget(route: Route & { via: 'smarthost' }, perDestination: number, url = route.url!): SmarthostTarget {
  const o = route.options;
  const target = smarthostTarget({
    url, starttls: o.starttls, tls_verify: o.tls_verify ?? true, tls_ca_file: o.tls_ca_file,
    connections: o.connections ?? perDestination, timeout: o.timeout, connect_timeout: o.connect_timeout, data_done_timeout: o.data_done_timeout,
  })!;
  if (o.user !== undefined) { target.user = o.user; target.pass = o.pass; }
  return target;
}

function routeRelay(route: Route, hostname: string, dns: DnsResolver, perDestination: number, own: readonly OwnListener[], log?: Logger, signer?: OutgoingSigner): Relay {
  if (route.via === 'mx') return new MxRelay(dns, hostname, route, perDestination, log, signer, own);
  const r = route as Route & { via: 'smarthost' };
  return smarthostRelay(r.urls!.map((url) => ({ ...routeTarget(r, perDestination, url), ownListeners: own })), hostname, log, signer);
}

/** `log` gets the relay's warnings about sessions (see SmtpRelay); `dkimCounters` what DKIM signing and ARC sealing left signed or not. */
export function buildRelay(cfg: GatewayConfig, queue: QueueStore, hostname: string, dns: DnsResolver, log?: Logger, dkimCounters?: OutgoingCounters): Relay {
  const own = ownListeners(cfg.server);
  const targets = smarthostTargets(cfg.smarthost).map((t) => ({ ...t, ownListeners: own }));
  // A relay per start and reload: the keys are read with it, so a reload's new key signs from then on. One without
  // dkim.domains too: mail a reload left without its key leaves unsigned, logged and counted. With dkim.arc, it seals.
  const signer = cfg.dkim ? outgoingSigner(cfg, log, dkimCounters) : undefined;
  const fallback: Relay = targets.length ? smarthostRelay(targets, hostname, log, signer) : new FileRelay(queue);
  const table = new RouteTable(cfg.routes ?? {});
  const maxOutbound = cfg.queue.max_outbound_size ?? 0;
  if (table.size === 0 && maxOutbound === 0) return fallback;
  const perDestination = cfg.queue.max_per_destination ?? 10;
  return new RouteRelay({ table, fallback, maxOutbound, create: (route) => routeRelay(route, hostname, dns, perDestination, own, log, signer) });
}

/**
 * Where mail for `domain` goes under `cfg`: a smarthost (its own route's, or the main one), 'mx' for a route to the
 * domain's MX hosts, or undefined when accepted mail is written to files. For plugins that ask the next hop (Services).
 */
export function relayTargetFor(cfg: GatewayConfig, domain: string): SmarthostTarget | 'mx' | undefined {
  let table = tables.get(cfg);
  if (!table) { table = new RouteTable(cfg.routes ?? {}); tables.set(cfg, table); }
  const route = table.lookup(domain);
  if (route.via === 'mx') return 'mx';
  if (route.via === 'smarthost') return routeTarget(route as Route & { via: 'smarthost' }, cfg.queue.max_per_destination ?? 10);
  return smarthostTarget(cfg.smarthost);
}

/** One route table per config generation: relayTargetFor runs at every RCPT of a plugin that asks. */
const tables = new WeakMap<GatewayConfig, RouteTable>();

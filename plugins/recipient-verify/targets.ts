// Which host to ask about a recipient domain: where the gateway relays it (its smarthost and routes), unless the
// plugin names its own `target` or `routes`; none for MX routes or file delivery.
import { RouteTable, type Route } from '../../core/relay/routes.ts';
import { routeTarget } from '../../core/relay/make-relay.ts';
import { smarthostTarget, type SmarthostTarget } from '../../core/relay/smarthost.ts';
import type { RecipientVerifyConfig } from './config.ts';

export type ProbeTarget =
  | { ask: true; target: SmarthostTarget }
  /** `why` is said once per route in the log: the admin learns which domains are not verified. */
  | { ask: false; key: string; why: string };

export class Targets {
  private readonly table: RouteTable;
  private readonly main?: SmarthostTarget;
  private readonly byRoute = new Map<string, SmarthostTarget>();
  private readonly timeout: number;
  /** The plugin names its own target or routes (copies of the gateway's, or another host to ask). */
  private readonly own: boolean;

  constructor(cfg: RecipientVerifyConfig) {
    this.timeout = cfg.probe_timeout;
    this.own = cfg.target !== undefined || Object.keys(cfg.routes).length > 0;
    this.table = new RouteTable(cfg.routes);
    const t = cfg.target;
    // The probe's own timeout replaces the relay's (60s by default): an RCPT waits on it.
    this.main = t === undefined ? undefined
      : smarthostTarget(typeof t === 'string' ? t : { ...t, connections: 1, timeout: cfg.probe_timeout });
    if (this.main) this.main.timeout = cfg.probe_timeout;
  }

  /** `relayed`: the gateway's own answer (Services.relayTarget), used when the plugin names no target or routes. */
  for(domain: string, relayed: (domain: string) => SmarthostTarget | 'mx' | undefined): ProbeTarget {
    if (!this.own) {
      const t = relayed(domain);
      if (t === 'mx') return { ask: false, key: `mx route of ${domain}`, why: 'the gateway delivers it to its MX hosts (nothing behind the gateway to ask)' };
      if (!t) return { ask: false, key: 'no smarthost', why: 'the gateway writes accepted mail to files (no smarthost to ask)' };
      // The probe's own timeout replaces the relay's (60s by default): an RCPT waits on it.
      return { ask: true, target: { ...t, connections: 1, timeout: this.timeout } };
    }
    const route = this.table.lookup(domain);
    if (route.via === 'mx') return { ask: false, key: `route ${route.key}`, why: 'its route delivers to MX hosts (nothing behind the gateway to ask)' };
    if (route.via === 'smarthost') return { ask: true, target: this.routeTarget(route as Route & { via: 'smarthost' }) };
    if (this.main) return { ask: true, target: this.main };
    return { ask: false, key: 'no target', why: 'no `target` is configured (the gateway delivers to files or was not told where its smarthost is)' };
  }

  private routeTarget(route: Route & { via: 'smarthost' }): SmarthostTarget {
    let t = this.byRoute.get(route.key);
    if (!t) {
      t = { ...routeTarget(route, 1), timeout: this.timeout };
      this.byRoute.set(route.key, t);
    }
    return t;
  }
}

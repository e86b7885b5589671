// The route table: which route a recipient domain takes (exact name, then `.parent` entries, then `*`, then the default).
import type { RouteConfig, RoutesConfig } from './route-config.ts';
import { comparableDomain } from '../text/idn-address.ts';
import { urlsOf } from './url-list-schema.ts';

export interface Route {
  /** The table key that matched ('' for the built-in default), an internationalized name in its A-label form. */
  key: string;
  via: 'mx' | 'default' | 'smarthost';
  /** The first smarthost of `urls`. */
  url?: string;
  /** A smarthost route's URLs, tried in order. */
  urls?: string[];
  options: Omit<RouteConfig, 'via'>;
}

const DEFAULT_OPTIONS: Omit<RouteConfig, 'via'> = {
  port: 25, starttls: 'opportunistic', timeout: undefined, connect_timeout: 30_000, data_done_timeout: 600_000,
  tls_verify: undefined, tls_ca_file: undefined, user: undefined, pass: undefined, connections: undefined, max_message_size: undefined,
};

function normalise(setting: string | string[] | RouteConfig): Pick<RouteConfig, 'via'> & Omit<RouteConfig, 'via'> {
  return typeof setting === 'string' || Array.isArray(setting) ? { ...DEFAULT_OPTIONS, via: setting } : setting;
}

export class RouteTable {
  private readonly routes = new Map<string, Route>();
  readonly size: number;

  constructor(config: RoutesConfig) {
    for (const [rawKey, setting] of Object.entries(config)) {
      // An IDN key in the form a recipient's domain is looked up in: `bücher.example` and `xn--bcher-kva.example`
      // are one domain, and mail may name it either way (SMTPUTF8 or not).
      const key = comparableDomain(rawKey.replace(/^\*\./, '.'));
      const { via, ...options } = normalise(setting);
      const kind = via === 'mx' || via === 'default' ? via : 'smarthost';
      const urls = kind === 'smarthost' ? urlsOf(via) : undefined;
      this.routes.set(key, { key, via: kind, url: urls?.[0], urls, options });
    }
    this.size = this.routes.size;
  }

  /** Every configured route, in the order of the config. */
  all(): Route[] { return [...this.routes.values()]; }

  /** The route for `domain`; an exact entry wins over a `.parent` one, the nearest parent over farther ones. */
  lookup(domain: string): Route {
    const d = comparableDomain(domain);
    const exact = this.routes.get(d);
    if (exact) return exact;
    for (let i = d.indexOf('.'); i >= 0; i = d.indexOf('.', i + 1)) {
      const r = this.routes.get(d.slice(i));
      if (r) return r;
    }
    return this.routes.get('*') ?? { key: '', via: 'default', options: DEFAULT_OPTIONS };
  }
}

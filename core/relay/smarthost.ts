// Reads the `smarthost` setting (a URL, or a mapping with a URL and options) into connection options.
import type { GatewayConfig, SmarthostConfig } from '../config/gateway-schema.ts';

export interface SmarthostTarget {
  host: string;
  port: number;
  /** Implicit TLS (smtps://). */
  secure: boolean;
  starttls: 'required' | 'opportunistic' | 'off';
  user?: string;
  pass?: string;
  tlsVerify: boolean;
  connections: number;
  timeout: number;
  /** TLS server name when `host` is an address (MX delivery connects to the address it resolved). */
  servername?: string;
  /** The URL without credentials, for logs. */
  display: string;
}

export function smarthostTarget(setting: GatewayConfig['smarthost']): SmarthostTarget | undefined {
  if (!setting) return undefined;
  const cfg: SmarthostConfig = typeof setting === 'string'
    ? { url: setting, starttls: 'opportunistic', tls_verify: true, connections: 8, timeout: 60_000 }
    : setting;
  const u = new URL(cfg.url);
  const secure = u.protocol === 'smtps:';
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : secure ? 465 : 25,
    secure,
    starttls: cfg.starttls,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    pass: u.password ? decodeURIComponent(u.password) : undefined,
    tlsVerify: cfg.tls_verify,
    connections: cfg.connections,
    timeout: cfg.timeout,
    display: `${u.protocol}//${u.host}`,
  };
}

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
  /** A PEM bundle of the CAs trusted instead of the system store and Node's list. */
  tlsCaFile?: string;
  connections: number;
  timeout: number;
  /** How long the reply to the final dot may take (default DATA_DONE_TIMEOUT_MS, 10 minutes). */
  dataDoneTimeout?: number;
  /** TLS server name when `host` is an address (MX delivery connects to the address it resolved). */
  servername?: string;
  /** The URL without credentials, for logs. */
  display: string;
}

/** A smarthost mapping as callers build it: the keys added later (tls_ca_file, data_done_timeout) may be left out. */
type SmarthostSetting = Omit<SmarthostConfig, 'tls_ca_file' | 'data_done_timeout'> & Partial<Pick<SmarthostConfig, 'tls_ca_file' | 'data_done_timeout'>>;

export function smarthostTarget(setting: GatewayConfig['smarthost'] | SmarthostSetting): SmarthostTarget | undefined {
  if (!setting) return undefined;
  const cfg: SmarthostSetting = typeof setting === 'string'
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
    tlsCaFile: cfg.tls_ca_file,
    connections: cfg.connections,
    timeout: cfg.timeout,
    dataDoneTimeout: cfg.data_done_timeout,
    display: `${u.protocol}//${u.host}`,
  };
}

// Reads the `smarthost` setting (a URL, a list of URLs, or a mapping with URLs and options) into connection options.
import type { GatewayConfig, SmarthostConfig } from '../config/gateway-schema.ts';
import { urlsOf } from './url-list-schema.ts';
import type { OwnListener } from './own-listeners.ts';

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
  /** One time for every reply and data block instead of each stage's (stage-timeouts.ts); unset: the stages'. */
  timeout?: number;
  /** How long a TCP connection may take; unset, `timeout` when set, else 30 s (stage-timeouts.ts). */
  connectTimeout?: number;
  /** How long the reply to the final dot may take (default DATA_DONE_TIMEOUT_MS, 10 minutes). */
  dataDoneTimeout?: number;
  /** TLS server name when `host` is an address (MX delivery connects to the address it resolved). */
  servername?: string;
  /** The URL without credentials, for logs. */
  display: string;
  /** The gateway's own SMTP listeners: a connection that reaches one is a mail loop (core/relay/own-listeners.ts). */
  ownListeners?: readonly OwnListener[];
}

/** A smarthost mapping as callers build it: the keys added later (tls_ca_file, the timeouts) may be left out. */
type LaterKeys = 'tls_ca_file' | 'data_done_timeout' | 'timeout' | 'connect_timeout';
type SmarthostSetting = Omit<SmarthostConfig, LaterKeys> & Partial<Pick<SmarthostConfig, LaterKeys>>;

/** The first smarthost of the setting: the one a plugin asking for the next hop, and `moat doctor`, are given. */
export function smarthostTarget(setting: GatewayConfig['smarthost'] | SmarthostSetting): SmarthostTarget | undefined {
  return smarthostTargets(setting)[0];
}

/** Every smarthost the setting names (a URL, a list of them, or a mapping whose `url` is either), in the order tried. */
export function smarthostTargets(setting: GatewayConfig['smarthost'] | SmarthostSetting): SmarthostTarget[] {
  if (!setting) return [];
  const cfg: SmarthostSetting = typeof setting === 'string' || Array.isArray(setting)
    ? { url: setting, starttls: 'opportunistic', tls_verify: true, connections: 8 }
    : setting;
  return urlsOf(cfg.url).map((url) => targetOf(cfg, url));
}

function targetOf(cfg: SmarthostSetting, url: string): SmarthostTarget {
  const u = new URL(url);
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
    connectTimeout: cfg.connect_timeout,
    dataDoneTimeout: cfg.data_done_timeout,
    display: `${u.protocol}//${u.host}`,
  };
}

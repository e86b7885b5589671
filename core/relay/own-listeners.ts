// Whether a next hop is the gateway itself: a host and port one of its own SMTP listeners answers on.
import net from 'node:net';
import os from 'node:os';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import { RouteTable } from './routes.ts';
import { smarthostTargets } from './smarthost.ts';

/** One SMTP listener of the gateway, by the key that configures it and its `host:port` as written there. */
export interface OwnListener {
  key: 'server.listen' | 'server.submission_listen' | 'server.tls_listen';
  address: string;
  host: string;
  port: number;
}

/** The SMTP listeners `server` configures; port 0 (a port the system picks) is left out, as nothing can name it here. */
export function ownListeners(server: Pick<GatewayConfig['server'], 'listen' | 'submission_listen' | 'tls_listen'>): OwnListener[] {
  const out: OwnListener[] = [];
  for (const key of ['listen', 'submission_listen', 'tls_listen'] as const) {
    for (const address of server[key] ?? []) {
      const at = address.lastIndexOf(':');
      const port = Number(address.slice(at + 1));
      if (at < 0 || !port) continue;
      out.push({ key: `server.${key}`, address, host: bare(address.slice(0, at)), port });
    }
  }
  return out;
}

/**
 * The listener of ours that `host`:`port` reaches, if any: one on that very host, or one on every address (0.0.0.0,
 * ::) on that port when `host` is this machine (a loopback address or name, an address of an interface, its name).
 * A host name is compared as written, not looked up: a name for this machine in DNS goes unseen.
 */
export function ownListenerAt(host: string, port: number, listeners: readonly OwnListener[], hostnames: readonly string[] = []): OwnListener | undefined {
  const h = bare(host);
  const onThisMachine = () => isThisMachine(h, hostnames);
  return listeners.find((l) => l.port === port && (sameHost(l.host, h) || (isWildcard(l.host) && onThisMachine())));
}

function bare(host: string): string {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  // An IPv4-mapped IPv6 address is the IPv4 host (what a socket's remoteAddress gives on a dual-stack listener).
  return h.startsWith('::ffff:') && net.isIPv4(h.slice(7)) ? h.slice(7) : h;
}

function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  return isLoopback(a) && isLoopback(b) && (a === 'localhost' || b === 'localhost');
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

function isThisMachine(host: string, hostnames: readonly string[]): boolean {
  if (isLoopback(host) || isWildcard(host)) return true;
  if ([os.hostname(), ...hostnames].some((n) => n && n.toLowerCase() === host)) return true;
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => bare(i.address) === host));
}

/** A smarthost or route URL of the config that reaches one of the gateway's own listeners: mail sent there loops. */
export interface OwnNextHop { where: string; url: string; listener: OwnListener }

/** Each smarthost and route URL of `cfg` that names one of its own SMTP listeners (by address, not by greeting). */
export function ownNextHops(cfg: Pick<GatewayConfig, 'server' | 'smarthost' | 'routes'>): OwnNextHop[] {
  const listeners = ownListeners(cfg.server);
  if (!listeners.length) return [];
  const hostnames = cfg.server.hostname ? [cfg.server.hostname] : [];
  const out: OwnNextHop[] = [];
  const check = (where: string, url: string) => {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : u.protocol === 'smtps:' ? 465 : 25;
    const listener = ownListenerAt(u.hostname, port, listeners, hostnames);
    if (listener) out.push({ where, url: `${u.protocol}//${u.host}`, listener });
  };
  for (const t of smarthostTargets(cfg.smarthost)) check('smarthost', t.display);
  for (const route of new RouteTable(cfg.routes ?? {}).all()) {
    for (const url of route.via === 'smarthost' ? route.urls ?? [] : []) check(`routes.${route.key}`, url);
  }
  return out;
}

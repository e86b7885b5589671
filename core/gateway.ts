// Assembles a gateway from its config: logger, state store, resolver, queue and relay, plugin chain, listeners; reloads on SIGHUP.
import os from 'node:os';
import path from 'node:path';
import type { GatewayConfig } from './config/gateway-schema.ts';
import { loadConfig, validateConfig, ConfigError } from './config/load.ts';
import { JsonLogger, redactUrl } from './log/logger.ts';
import type { Logger, LogFields } from './log/types.ts';
import { createResolver } from './dns/index.ts';
import { openStore } from './store/index.ts';
import { QueueStore } from './queue/queue-store.ts';
import { DeliveryQueue } from './queue/delivery-queue.ts';
import { buildRelay } from './relay/make-relay.ts';
import type { Relay } from './relay/types.ts';
import type { DnsResolver } from './dns/types.ts';
import { startControl } from './control/server.ts';
import { UsersFile } from './auth/users-file.ts';
import { closePlugins, createPlugins, PROJECT_DIR, type LoadedPlugin } from './plugin/loader.ts';
import type { Services } from './hooks/context.ts';
import { compilePolicy, type Runtime } from './runtime.ts';
import { Metrics } from './metrics.ts';
import { ConnectionLimits } from './smtp/connection-limits.ts';
import { loadTls } from './smtp/tls.ts';
import { startListeners, stopListeners, type BoundListener } from './smtp/front-door.ts';
import type { StateStore } from './store/types.ts';

export interface GatewayOptions {
  config: GatewayConfig;
  /** The config file, for SIGHUP reloads (none for an embedded or in-test config). */
  configFile?: string;
  configOverrides?: string[];
  configDir?: string;
  /** Replace the log sink (tests capture lines). */
  logSink?: { write(line: string): void };
  onLog?: (rec: LogFields) => void;
  /** Handle SIGHUP (the CLI does; in-process tests do not). */
  handleSignals?: boolean;
}

export interface Gateway {
  readonly runtime: Runtime;
  readonly listeners: BoundListener[];
  /** Port of the first listener of a kind. */
  port(kind?: 'smtp' | 'smtps' | 'submission'): number;
  /** Re-reads the config file (or takes `next`), validates it, and swaps it in; an invalid config is refused and the old one kept. */
  reload(next?: GatewayConfig): Promise<boolean>;
  stop(): Promise<void>;
}

function makeRelay(cfg: GatewayConfig, queue: QueueStore, hostname: string, dns: DnsResolver): Relay {
  return buildRelay(cfg, queue, hostname, dns);
}

/** How long plugin instances and a relay that a reload replaced stay open for the hooks and deliveries still using them. */
const RETIRE_AFTER_MS = 30_000;

/**
 * What reloads replaced, closed after a grace period, or at stop if that comes first: a plugin's close() may save
 * state (the bayes plugin flushes what it learned), so a stop must not leave it to a timer that never fires.
 */
class Retired {
  private readonly closers = new Set<() => Promise<void>>();
  private readonly log: Logger;
  constructor(log: Logger) { this.log = log; }

  add(plugins: LoadedPlugin[], relay: Relay): void {
    let closing: Promise<void> | undefined;
    const close = () => closing ??= (async () => {
      clearTimeout(timer);
      await closePlugins(plugins, this.log);
      try { await relay.close(); } catch (e) { this.log.warn('relay close failed', { error: String(e) }); }
      this.closers.delete(close);
    })();
    const timer = setTimeout(() => void close(), RETIRE_AFTER_MS);
    timer.unref();
    this.closers.add(close);
  }

  /** Closes everything still waiting, oldest first, and waits for closes already under way. */
  async closeAll(): Promise<void> {
    for (const close of [...this.closers]) await close();
  }
}

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  let cfg = opts.config;
  const log = new JsonLogger({ level: cfg.log.level, format: cfg.log.format, sink: opts.logSink, listeners: opts.onLog ? [opts.onLog] : [] });
  // Taken over before anything else: SIGHUP's default action would end the process.
  let reloadOnHup: (() => Promise<boolean>) | undefined;
  const onHup = () => { if (reloadOnHup) void reloadOnHup(); else log.warn('SIGHUP during start-up ignored'); };
  if (opts.handleSignals) process.on('SIGHUP', onHup);
  const hostname = cfg.server.hostname || os.hostname();
  const queue = new QueueStore(cfg.data_dir);
  const store: StateStore = await openStore(cfg.state, cfg.data_dir, log.child({ component: 'state' }), { startUnreachable: true });
  const dns = createResolver(cfg.dns, log.child({ component: 'dns' }));
  const users = new UsersFile(cfg.auth.users_file || path.join(cfg.data_dir, 'users'));
  const metrics = new Metrics();
  let relay = makeRelay(cfg, queue, hostname, dns);
  const delivery = new DeliveryQueue(queue, relay, cfg.queue, log);
  delivery.setHostname(hostname);

  const services: Services = {
    dns, store, dataDir: cfg.data_dir, hostname,
    // Reads the policy at call time, so a reload's domains apply at once.
    isLocalDomain: (d: string) => rt.policy.localDomains.has(d.toLowerCase().replace(/\.$/, '')),
  };
  const rt: Runtime = {
    config: cfg, policy: compilePolicy(cfg), plugins: [],
    services, queue, delivery, users, log, hostname, metrics, connections: new ConnectionLimits(),
  };
  const setup = { log, services, projectDir: PROJECT_DIR, configDir: opts.configDir ?? process.cwd() };
  try {
    rt.plugins = await createPlugins(cfg.plugins, setup);
  } catch (e) {
    await store.close();
    throw e;
  }

  // Before the queue is touched: a second gateway on the same data_dir must not start delivering it.
  const control = await startControl(cfg.data_dir, delivery, log, {
    metrics: () => ({
      ...metrics.snapshot(), connections_open: rt.connections.count, queue_scheduled: delivery.size, queue_journaled: queue.journaledCount,
      dns: (dns as { stats?: () => unknown }).stats?.(),
    }),
  }).catch(async (e) => { await closePlugins(rt.plugins, log); await relay.close(); await store.close(); throw e; });
  let recovered: Awaited<ReturnType<typeof queue.recover>>;
  try {
    recovered = await queue.recover();
  } catch (e) {
    await control.close(); await closePlugins(rt.plugins, log); await relay.close(); await store.close();
    throw e;
  }
  // A start is a queue run: every recovered message gets one attempt now, whatever its schedule said.
  const startedAt = Date.now();
  for (const e of recovered.entries) { e.nextAttemptAt = Math.min(e.nextAttemptAt, startedAt); delivery.add(e); }
  log.info('queue recovered', { messages: recovered.entries.length, orphans_removed: recovered.orphans, broken: recovered.broken.length });
  control.open();

  const tls = loadTls({ cert: cfg.server.tls.cert, key: cfg.server.tls.key, dataDir: cfg.data_dir, hostname });
  if (tls.generated) log.info('using a self-signed TLS certificate', { dir: path.join(cfg.data_dir, 'tls') });
  let listeners: BoundListener[];
  try {
    listeners = await startListeners(rt, tls);
  } catch (e) {
    await control?.close(); await delivery.stop(); await closePlugins(rt.plugins, log); await relay.close(); await store.close();
    queue.close();
    throw e;
  }
  log.info('mailmoat started', { relay: relay.name === 'file' ? `files in ${queue.dirs.delivered}` : redactUrl(relay.name), plugins: rt.plugins.map((p) => p.name), domains: cfg.domains });

  const retired = new Retired(log);
  const reload = async (next?: GatewayConfig): Promise<boolean> => {
    let nc: GatewayConfig;
    try {
      nc = next ? await validateConfig(next) : (await loadConfig({ file: opts.configFile, overrides: opts.configOverrides })).config;
    } catch (e) {
      log.error('config reload refused: the running config is kept', { error: e instanceof ConfigError ? e.issues.map((i) => `${i.path}: ${i.message}`) : String(e) });
      return false;
    }
    let plugins: LoadedPlugin[];
    try { plugins = await createPlugins(nc.plugins, { ...setup, log }); } catch (e) {
      log.error('config reload refused: a plugin cannot start; the running config is kept', { error: String((e as Error).message) });
      return false;
    }
    const old = rt.plugins;
    rt.plugins = plugins;
    rt.config = nc;
    rt.policy = compilePolicy(nc);
    cfg = nc;
    const nextRelay = makeRelay(nc, queue, hostname, dns);
    const oldRelay = relay;
    relay = nextRelay;
    delivery.setRelay(nextRelay);
    delivery.setPolicy(nc.queue);
    // In-flight hooks may still use the old instances for a moment.
    retired.add(old, oldRelay);
    log.info('config reloaded', { plugins: plugins.map((p) => p.name), note: 'listener addresses and data_dir change only on restart' });
    return true;
  };

  reloadOnHup = reload;

  let stopped = false;
  return {
    runtime: rt,
    listeners,
    port(kind = 'smtp') {
      const l = listeners.find((x) => x.kind === kind);
      if (!l) throw new Error(`no ${kind} listener`);
      return l.port;
    },
    reload,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (opts.handleSignals) process.off('SIGHUP', onHup);
      await stopListeners(listeners);
      await control?.close();
      await delivery.stop();
      await retired.closeAll();
      await closePlugins(rt.plugins, log);
      await relay.close();
      await store.close();
      queue.close();
      log.info('mailmoat stopped', { metrics: metrics.snapshot() });
    },
  };
}

// Assembles a gateway from its config: logger, state store, resolver, queue and relay, plugin chain, listeners; reloads on SIGHUP.
import { mkdirSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { GatewayConfig } from './config/gateway-schema.ts';
import { loadConfig, validateConfig, ConfigError } from './config/load.ts';
import { JsonLogger } from './log/logger.ts';
import type { Logger, LogFields } from './log/types.ts';
import { createResolver, LookupStats, type CoreResolver } from './dns/index.ts';
import { openStore } from './store/index.ts';
import { QueueStore } from './queue/queue-store.ts';
import { logTrail } from './queue/admin-trail.ts';
import { DeliveryQueue } from './queue/delivery-queue.ts';
import { buildRelay, relayTargetFor } from './relay/make-relay.ts';
import { signingName } from './dkim/keyring.ts';
import { smarthostTarget } from './relay/smarthost.ts';
import type { Relay } from './relay/types.ts';
import type { DnsResolver } from './dns/types.ts';
import { claimDataDir, startControl } from './control/server.ts';
import { runCheck } from './smtp/check-transaction.ts';
import type { ReloadReport, ServedCertificate } from './control/protocol.ts';
import { startRetention } from './queue/retention.ts';
import { keepDataDirPrivate } from './data-dir.ts';
import { UsersFile } from './auth/users-file.ts';
import { closePlugins, createPlugins, PROJECT_DIR, type DisabledPlugin, type LoadedPlugin } from './plugin/loader.ts';
import { InUse } from './plugin/in-use.ts';
import { guardStrayErrors, pluginPlaces } from './plugin/stray-errors.ts';
import type { Services } from './hooks/context.ts';
import { compilePolicy, type Policy, type Runtime } from './runtime.ts';
import { Metrics, QueueGauges, scoreBuckets } from './metrics.ts';
import { ConnectionLimits } from './smtp/connection-limits.ts';
import { AuthFailures } from './auth/auth-failures.ts';
import { ClientCounting } from './net/client-counting.ts';
import { loadTls, type TlsMaterial } from './smtp/tls.ts';
import { expiryWarning, validityWarnings } from './smtp/tls-certificate-checks.ts';
import { BrokenRecheck } from './queue/broken-messages.ts';
import { copiedFromRunning } from './control/queue-lock.ts';
import { captureConsole } from './log/console-capture.ts';
import { refreshListeners, startListeners, stopListeners, type BoundListener } from './smtp/front-door.ts';
import { STOP_REPLY_LIMIT_MS } from './smtp/session-shutdown.ts';
import type { StateStore } from './store/types.ts';
import { startAdminHttp } from './http/admin-listener.ts';
import { heldUntil } from './http/held-routes.ts';
import { Readiness } from './http/readiness.ts';
import { readinessChecks } from './http/readiness-checks.ts';
import { StorageHealth } from './queue/storage-health.ts';
import { adoptRecoveredDigests, startDigestSchedule, type DigestSchedule } from './quarantine/digest.ts';
import { pluginFeedback, quarantineRoutes } from './quarantine/http-handlers.ts';
import { userListsApplied } from './lists/user-lists.ts';
import { recipientDelimiters } from './quarantine/mailbox.ts';
import { Revocations } from './quarantine/revocations.ts';
import { allowRuleOf } from './quarantine/allow-rule.ts';
import { loadTicketKey } from './quarantine/ticket.ts';
import type { HttpListener } from './http/server.ts';
import { watchEventLoop } from './log/event-loop-watch.ts';
import { mailmoatVersion, shortCommit } from './version.ts';
import { domainWarnings } from './config/domain-warnings.ts';
import { removedDomainMail, removedDomainWarning } from './queue/removed-domain-mail.ts';
import { queueOwnMail } from './queue/own-mail.ts';

export interface GatewayOptions {
  config: GatewayConfig;
  /** The config file, for SIGHUP reloads (none for an embedded or in-test config). */
  configFile?: string;
  configOverrides?: string[];
  configDir?: string;
  /** Replace the log sink (tests capture lines). */
  logSink?: { write(line: string): void };
  onLog?: (rec: LogFields) => void;
  /**
   * Handle SIGHUP, note SIGTERM and SIGINT for the `stopping` line, logging one that comes again during a stop, and log
   * SIGUSR1 and SIGUSR2 as ignored (the CLI does; in-process tests do not). These listeners go at the end of a stop, so
   * a program that embeds the gateway keeps one of its own on SIGUSR1 (as scripts/moat.js does), or that signal opens
   * Node's inspector before the start and ends the process after the stop.
   */
  handleSignals?: boolean;
  /**
   * With handleSignals, SIGQUIT is logged (with the sessions and deliveries it cuts off) and this is called: the CLI
   * then exits at once. Without it SIGQUIT keeps its default action.
   */
  onQuitSignal?: () => void;
  /** Log what libraries print with console.* as records (the CLI does; a test runner's own output must stay). */
  captureConsole?: boolean;
  /**
   * Takes over errors nobody caught (core/plugin/stray-errors.ts), and is called when one came from the core's own code
   * and the gateway must stop (the CLI does; a test runner keeps its own handlers).
   */
  onFatalError?: (error: unknown) => void;
  /**
   * `moat stop` asked through the control socket: the process that runs the gateway stops it (and then exits), as on
   * SIGTERM. Without it the control socket refuses to stop a gateway another program runs.
   */
  onStopRequest?: () => void;
  /** How long what a reload replaced may go on serving hooks and deliveries still using it (30 s; shorter in tests). */
  retireAfterMs?: number;
  /** How long deliveries under way get at a stop before they are cut off (10 s; shorter in tests). */
  deliveryStopGraceMs?: number;
  /** How long a message still arriving gets at a stop before its session is cut off (20 s; shorter in tests). */
  dataStopGraceMs?: number;
}

export interface Gateway {
  readonly runtime: Runtime;
  readonly listeners: BoundListener[];
  /** The admin HTTP listener (`http.listen`), undefined when none is configured; other parts add routes to it. */
  readonly admin: HttpListener | undefined;
  /** Port of the first listener of a kind. */
  port(kind?: 'smtp' | 'smtps' | 'submission'): number;
  /** Re-reads the config file (or takes `next`), validates it, and swaps it in; an invalid config is refused and the old one kept. */
  reload(next?: GatewayConfig): Promise<boolean>;
  /** Stops in order; `reason` goes on the `stopping` line (else the signal that came, or `requested`). */
  stop(reason?: string): Promise<void>;
}

function makeRelay(cfg: GatewayConfig, queue: QueueStore, hostname: string, dns: DnsResolver, log: Logger, metrics: Metrics): Relay {
  return buildRelay(cfg, queue, hostname, dns, log.child({ component: 'relay' }), metrics);
}

/** How long plugin instances and a relay that a reload replaced stay open at most for hooks and deliveries still using them. */
const RETIRE_AFTER_MS = 30_000;
/** How long what a reload replaced must have been idle before it is closed (see InUse.whenQuiet). */
const RETIRE_QUIET_MS = 300;

/**
 * What reloads replaced, closed once no hook call or delivery runs in it any more (each set holds a Bayes dictionary,
 * a worker thread, sockets: a burst of reloads must not keep hundreds of them), after a grace period when one hangs,
 * or at stop if that comes first: a plugin's close() may save state (the bayes plugin flushes what it learned), so a
 * stop must not leave it to a timer that never fires.
 */
class Retired {
  private readonly closers = new Set<() => Promise<void>>();
  private readonly log: Logger;
  private readonly afterMs: number;
  constructor(log: Logger, afterMs = RETIRE_AFTER_MS) { this.log = log; this.afterMs = afterMs; }

  add(plugins: LoadedPlugin[], relay: Relay, inUse: InUse): void {
    let closing: Promise<void> | undefined;
    const close = () => closing ??= (async () => {
      clearTimeout(timer);
      await closePlugins(plugins, this.log);
      try { await relay.close(); } catch (e) { this.log.warn('relay close failed', { error: String(e) }); }
      this.closers.delete(close);
    })();
    const timer = setTimeout(() => void close(), this.afterMs);
    timer.unref();
    inUse.whenQuiet(RETIRE_QUIET_MS, () => void close());
    this.closers.add(close);
  }

  /** Closes everything still waiting, oldest first, and waits for closes already under way. */
  async closeAll(): Promise<void> {
    for (const close of [...this.closers]) await close();
  }
}

/**
 * The certificate the config names (or the self-signed one, made when missing), announced at start only. A certificate
 * outside its validity period is logged at every start and reload, and its warning (check-config's words) added to
 * `warnings`, which a reload prints.
 */
function loadTlsLogged(cfg: GatewayConfig, hostname: string, log: Logger, atStart: boolean, warnings: string[] = []): TlsMaterial {
  const { cert, key, min_version: minVersion, ciphers } = cfg.server.tls;
  const tls = loadTls({ cert, key, minVersion, ciphers, dataDir: cfg.data_dir, hostname });
  if (tls.generated && atStart) log.info('using a self-signed TLS certificate', { dir: path.join(cfg.data_dir, 'tls'), expires: tls.expires.toISOString() });
  // Served all the same: a sending MTA mostly does not verify, and refusing to start would stop all mail.
  const found = tls.generated ? [] : validityWarnings(tls.cert, cert ?? '');
  for (const warning of found) log.error('the TLS certificate is not valid now', { cert, warning });
  warnings.push(...found);
  return tls;
}

/** The certificate `tls` serves (the first of its chain), as a reload that changed it names it. */
function servedCertificate(tls: TlsMaterial): ServedCertificate {
  const x = new X509Certificate(tls.cert);
  const cn = /^CN=(.*)$/m.exec(x.subject)?.[1];
  return { ...(cn === undefined ? {} : { cn }), sha256: x.fingerprint256, notAfter: new Date(x.validTo).toISOString() };
}

/**
 * The certificate a reload begins to serve, or undefined when it is the one served before: a renewal at the same path
 * (or a symbolic link swapped) changes no config key, and an admin checking it took must see it in the reload's outcome.
 */
function certificateChange(before: TlsMaterial, after: TlsMaterial): { now: ServedCertificate; replaced: string } | undefined {
  if (before.cert.equals(after.cert)) return undefined;
  const was = servedCertificate(before).sha256;
  const now = servedCertificate(after);
  return now.sha256 === was ? undefined : { now, replaced: was };
}

/**
 * Keys a reload cannot apply to a running gateway, as Postfix's inet_interfaces and queue_directory: its bound ports
 * (a reload that could bind some new addresses and not others would leave the gateway half-listening, with no start
 * error to say so), its files (the queue, its key and lock, the control socket live under data_dir), and its state
 * store (greylisting and other plugin state would be left behind in the old one).
 */
const RESTART_ONLY = ['server.listen', 'server.tls_listen', 'server.submission_listen', 'http.listen', 'http.tls', 'data_dir', 'state'] as const;

/** Keys a reload applies to new sessions and deliveries beyond the ones swapped with the config, named in its log line. */
const APPLIED_ON_RELOAD = ['server.hostname', 'server.proxy_protocol', 'log', 'dns', 'auth'] as const;

const valueAt = (cfg: GatewayConfig, key: string): unknown =>
  key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], cfg);

const hostnameOf = (cfg: GatewayConfig): string => cfg.server.hostname || os.hostname();

const usersFileOf = (cfg: GatewayConfig): string => cfg.auth.users_file || path.join(cfg.data_dir, 'users');

/**
 * Gives `next` the running values of the keys a reload cannot apply, so the config the gateway reports is the one it
 * uses, and names the keys whose value the file changed. `next` is a freshly validated config, changed in place.
 */
function keepRestartOnly(running: GatewayConfig, next: GatewayConfig): string[] {
  const changed: string[] = [];
  for (const key of RESTART_ONLY) {
    const path = key.split('.');
    const last = path.pop()!;
    const holder = (root: GatewayConfig) => path.reduce((o, k) => o[k] as Record<string, unknown>, root as unknown as Record<string, unknown>);
    const from = holder(running);
    const to = holder(next);
    if (JSON.stringify(from[last]) !== JSON.stringify(to[last])) changed.push(key);
    to[last] = from[last];
  }
  return changed;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The dotted paths of the values that differ between two configs, a list counting as one value (`plugins`), so
 * `moat reload` can say what a reload changed without showing values, which may hold credentials.
 */
function changedKeys(from: unknown, to: unknown, prefix = ''): string[] {
  if (!isMapping(from) || !isMapping(to)) return JSON.stringify(from) === JSON.stringify(to) ? [] : [prefix];
  const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
  return keys.flatMap((k) => changedKeys(from[k], to[k], prefix ? `${prefix}.${k}` : k));
}

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  let cfg = opts.config;
  const log = new JsonLogger({ level: cfg.log.level, format: cfg.log.format, sink: opts.logSink, listeners: opts.onLog ? [opts.onLog] : [] });
  // Taken over before anything else: SIGHUP's default action would end the process.
  let reloadOnHup: (() => Promise<boolean>) | undefined;
  const onHup = () => { if (reloadOnHup) reloadOnHup().catch((e) => log.error('config reload failed', { error: String(e) })); else log.warn('SIGHUP ignored: the gateway is starting or stopping'); };
  if (opts.handleSignals) process.on('SIGHUP', onHup);
  // Why a stop began, for its first line, as Postfix logs `terminating on signal 15`: the CLI's own handlers call
  // stop() later, once the start is over, so the signal is noted here.
  let stopCause: string | undefined;
  let stopped = false;
  // What a stop still waits for; nothing until the sessions and the delivery queue exist.
  let underWay = () => ({ sessions: 0, deliveries: 0 });
  // Another SIGTERM or SIGINT once a stop is asked for is logged and changes nothing else: under `runuser` or `su`, a
  // control-group kill reaches both it and node, and it forwards its copy, so two at once are the plumbing, not an admin
  // in a hurry. The stop's own deadlines bound it; SIGQUIT, which no stop sends by accident, ends it at once.
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (stopCause === undefined && !stopped) { stopCause = signal; return; }
    log.warn('already stopping', { signal, ...underWay() });
  };
  const onQuitSignal = () => {
    log.warn('exiting at once on SIGQUIT: messages still arriving are dropped, deliveries under way are sent again at the next start', underWay());
    opts.onQuitSignal!();
  };
  const stopSignals = ['SIGTERM', 'SIGINT'] as const;
  if (opts.handleSignals) for (const sig of stopSignals) process.on(sig, onStopSignal);
  if (opts.handleSignals && opts.onQuitSignal) process.on('SIGQUIT', onQuitSignal);
  // Sent by logrotate postrotate scripts written for daemons that reopen a log file: this one keeps none, and Node's own
  // actions for them (its inspector, an exit) are what scripts/moat.js keeps away. The admin learns what to do instead.
  const ignoredSignals = ['SIGUSR1', 'SIGUSR2'] as const;
  const onIgnoredSignal = (signal: NodeJS.Signals) => log.warn('signal ignored: the gateway keeps no log file to reopen, its log goes to standard output '
    + '(rotate it where it is kept: journald, the supervisor); to reload the config use moat reload or SIGHUP', { signal });
  if (opts.handleSignals) for (const sig of ignoredSignals) process.on(sig, onIgnoredSignal);
  const releaseSignals = () => {
    for (const sig of stopSignals) process.off(sig, onStopSignal);
    for (const sig of ignoredSignals) process.off(sig, onIgnoredSignal);
    process.off('SIGQUIT', onQuitSignal);
  };
  const releaseConsole = opts.captureConsole ? captureConsole(log.child({ component: 'console' })) : () => undefined;
  /** Gives the process back its SIGHUP and console when the start fails. */
  let strayGuardRemove: (() => void) | undefined;
  let releaseDataDir: (() => void) | undefined;
  const letGoOfProcess = () => {
    if (opts.handleSignals) process.off('SIGHUP', onHup);
    releaseSignals();
    releaseConsole();
    strayGuardRemove?.();
    releaseDataDir?.();
  };
  let hostname = hostnameOf(cfg);
  let tls: TlsMaterial;
  // Read before the claim below, which takes such a lock over.
  const copied = copiedFromRunning(cfg.data_dir);
  try {
    // Claimed first: a start refused for a gateway running on this data_dir must leave its files alone (a self-signed
    // certificate made anew for this config's hostname, as root, was one the running gateway could no longer read).
    mkdirSync(cfg.data_dir, { recursive: true, mode: 0o700 });
    releaseDataDir = await claimDataDir(cfg.data_dir, log);
    keepDataDirPrivate(cfg.data_dir, log);
    // First: a certificate that cannot be used is a start-up error, found before the queue or any port is touched.
    tls = loadTlsLogged(cfg, hostname, log, true);
  } catch (e) {
    letGoOfProcess();
    throw e;
  }
  const queue = new QueueStore(cfg.data_dir, log.child({ component: 'queue' }));
  const store: StateStore = await openStore(cfg.state, cfg.data_dir, log.child({ component: 'state' }), { startUnreachable: true });
  const dnsStats = new LookupStats();
  let dns: CoreResolver = createResolver(cfg.dns, log.child({ component: 'dns' }), { stats: dnsStats });
  const users = new UsersFile(usersFileOf(cfg));
  const metrics = new Metrics({ scoreBounds: scoreBuckets(cfg.scores), dataDir: cfg.data_dir });
  // Before any plugin is created: a create may start the timer that throws.
  if (opts.onFatalError) strayGuardRemove = guardStrayErrors({
    log, count: () => metrics.inc('uncaught_errors'), places: () => pluginPlaces(cfg.plugins, PROJECT_DIR, opts.configDir ?? process.cwd()), projectDir: PROJECT_DIR,
    onFatal: (e) => { stopCause ??= 'uncaught error'; opts.onFatalError!(e); },
  }).remove;
  let relay = makeRelay(cfg, queue, hostname, dns, log, metrics);
  let inUse = new InUse();
  inUse.trackRelay(relay);
  const delivery = new DeliveryQueue(queue, relay, cfg.queue, log, metrics);
  delivery.setHostname(hostname);

  // A new set for each resolver and hostname: plugins built by a reload take theirs at create time.
  const servicesWith = (resolver: DnsResolver, name: string): Services => ({
    dns: resolver, store, dataDir: cfg.data_dir, hostname: name,
    // Reads the policy at call time, so a reload's domains apply at once.
    isLocalDomain: (d: string) => rt.policy.localDomains.has(d.toLowerCase().replace(/\.$/, '')),
    relayTarget: (d: string) => relayTargetFor(rt.config, d),
    scoreCaps: () => rt.config.scores.max_per_plugin,
    ownMail: {
      from: () => rt.config.queue.bounces.postmaster || `postmaster@${name}`,
      queue: (to, data) => queueOwnMail({ store: queue, schedule: (e) => delivery.add(e), hostname: () => name }, to, data),
    },
  });
  // Reads the running limits and policy at each call, so that a reload's prefix lengths and networks apply at once.
  const counting = new ClientCounting(() => rt);
  const rt: Runtime = {
    config: cfg, policy: compilePolicy(cfg), plugins: [],
    services: servicesWith(dns, hostname), queue, delivery, users, log, hostname, metrics,
    connections: new ConnectionLimits(Date.now, counting), authFailures: new AuthFailures(Date.now, counting),
    storage: new StorageHealth(queue.dirs.queue, metrics),
  };
  underWay = () => ({ sessions: rt.connections.count, deliveries: delivery.busy.length });
  const setup = { log, services: rt.services, projectDir: PROJECT_DIR, configDir: opts.configDir ?? process.cwd(), metrics: metrics.forPlugins() };
  try {
    rt.plugins = await createPlugins(cfg.plugins, { ...setup, maxMessageSize: cfg.limits.max_message_size });
    inUse.trackChain(rt.plugins);
  } catch (e) {
    await store.close();
    letGoOfProcess();
    throw e;
  }

  // What `moat metrics` and GET /metrics show, one function for both so the two never differ.
  const queueGauges = new QueueGauges(queue.dirs, delivery);
  let brokenRecheck: BrokenRecheck | undefined;
  // As Prometheus's own config_last_reload_successful: the start's config counts as the first load.
  const lastReload = { success: 1, at: Math.round(Date.now() / 1000) };
  const liveMetrics = () => ({
    ...metrics.snapshot(), connections_open: rt.connections.count, queue_scheduled: delivery.size, queue_journaled: queue.journaledCount,
    ...queueGauges.values(), queue_broken: brokenRecheck?.count ?? 0, dns: dns.stats(),
    config_last_reload_success: lastReload.success, config_last_reload_timestamp_seconds: lastReload.at,
    tls_certificate_expiry_timestamp_seconds: Math.round(tls.expires.getTime() / 1000),
  });
  // Set once the gateway has started; until then `moat reload` is told to wait, as a SIGHUP is ignored.
  let reloadByControl: (() => Promise<ReloadReport>) | undefined;
  // Started once the queue is recovered; `moat quarantine digest` before then is told to wait.
  let digests: DigestSchedule | undefined;
  if (copied) log.warn('queue.lock was copied from a gateway still running on another folder: taken over; copy a data_dir only from a stopped gateway or a snapshot', { holder_pid: copied.pid, holder_dir: copied.dir });
  // Before the queue is touched: a second gateway on the same data_dir must not start delivering it.
  const control = await startControl(cfg.data_dir, delivery, log, {
    reload: () => reloadByControl ? reloadByControl() : Promise.reject(new Error('the gateway is still starting; run the command again once it has started')),
    metrics: liveMetrics,
    digest: (o) => digests ? digests.runNow(o) : Promise.reject(new Error('the gateway is still starting; run the command again once it has started')),
    stop: opts.onStopRequest,
    check: {
      run: (req) => runCheck(rt, { ...req, message: Buffer.from(req.message, 'base64') }),
      maxMessageSize: () => rt.config.limits.max_message_size,
    },
  }, releaseDataDir).catch(async (e) => {
    await closePlugins(rt.plugins, log); await relay.close(); await store.close();
    letGoOfProcess();
    throw e;
  });
  // What GET /health/ready reports: why the gateway cannot take mail yet, until the end of the start; `stopping` from
  // the first moment of a stop; otherwise ready while every SMTP listener listens and the disk has room, and no
  // dependency is down that makes a plugin defer every message (clamd with on_error: tempfail).
  let phase: 'starting: recovering the queue' | 'starting: opening the SMTP listeners' | 'ready' | 'stopping' = 'starting: recovering the queue';
  let listeners: BoundListener[] = [];
  let queueRecovered = false;
  const quarantineLog = log.child({ component: 'quarantine' });
  // Right after the control socket, whose lock keeps a second gateway from binding first, and before the queue's
  // recovery, which may take minutes: a liveness probe that got no answer meanwhile would have the gateway killed.
  let admin: HttpListener | undefined;
  const readiness = new Readiness(() => readinessChecks({
    plugins: () => rt.plugins, store, dns: { stats: dnsStats, resolver: () => rt.services.dns, config: () => rt.config },
  }), { log: log.child({ component: 'http' }) });
  try {
    admin = await startAdminHttp({
      config: () => rt.config.http, tls, log,
      connectionRefused: (limit) => metrics.count('http_connections_refused', limit),
      state: {
        metrics: liveMetrics,
        notReadyBecause: async () => phase !== 'ready' ? phase
          : listeners.some((l) => !(l.server as unknown as { server: { listening: boolean } }).server.listening) ? 'an SMTP listener is closed'
          : rt.storage.problem(),
        dependencies: () => readiness.report(),
      },
    });
    // The digest's links: public routes (a recipient's browser is anywhere), answered over HTTPS only, and from the
    // queue, so with 503 and Retry-After until it is recovered.
    if (admin) {
      const routes = quarantineRoutes({
        key: loadTicketKey(cfg.data_dir), store: queue, forRecipient: control.forRecipient, log: quarantineLog,
        // The recipients' sender lists live in the state store, where the user-lists plugin reads them.
        lists: store, listDelimiters: () => recipientDelimiters(rt.config), listsApplied: () => userListsApplied(rt.config),
        // The page states the allow rule the running user-lists plugin applies (proof by SPF, DMARC, or none needed).
        allowRule: () => allowRuleOf(rt.config),
        // A recipient's release or block, to the plugins running then that learn from it (the bayes plugin).
        feedback: pluginFeedback(() => rt.plugins, quarantineLog),
        // Only forms of the pages under link_base may act (core/quarantine/form-post.ts); unset, the pages are off.
        linkBase: () => rt.config.quarantine_digest.link_base,
        // `moat quarantine revoke`'s file, read again whenever it changed.
        revocations: new Revocations(cfg.data_dir, quarantineLog),
      });
      for (const r of heldUntil(() => queueRecovered, routes)) admin.addRoute(r);
    }
  } catch (e) {
    // A listen failure of the admin listener stops the start as one of an SMTP listener does.
    await admin?.close();
    await control.close(); await closePlugins(rt.plugins, log); await relay.close(); await store.close();
    letGoOfProcess();
    throw e;
  }
  let recovered: Awaited<ReturnType<typeof queue.recover>>;
  try {
    recovered = await queue.recover();
  } catch (e) {
    await admin?.close();
    await control.close(); await closePlugins(rt.plugins, log); await relay.close(); await store.close();
    letGoOfProcess();
    throw e;
  }
  await adoptRecoveredDigests(cfg.data_dir, recovered.entries).catch((e: Error) => log.warn('quarantine digest progress could not be updated at start', { error: e.message }));
  // New messages go now; deferred ones keep their next attempt, those overdue spread out (DeliveryQueue.addRecovered).
  delivery.addRecovered(recovered.entries);
  log.info('queue recovered', { messages: recovered.entries.length, orphans_removed: recovered.orphans, broken: recovered.broken.length, leftover_states_removed: recovered.leftovers });
  // Each one named, with its file and why, and read again now and then: a chown mends them without a restart.
  brokenRecheck = new BrokenRecheck({
    found: recovered.broken, read: (id) => queue.readBroken(id), schedule: (e) => delivery.add(e),
    log: log.child({ component: 'queue' }), dataDir: cfg.data_dir, setAsideLater: queue,
  });
  brokenRecheck.start();
  // Daily, beside the start's and each reload's check: a certificate whose renewal failed is noticed before clients refuse it.
  const warnExpiry = () => {
    const warning = expiryWarning(tls.expires, tls.generated ? undefined : cfg.server.tls.cert);
    if (warning) log.warn('the TLS certificate expires soon', { warning });
  };
  if (tls.expires.getTime() > Date.now()) warnExpiry();
  const expiryTimer = setInterval(warnExpiry, 86_400_000);
  expiryTimer.unref();
  logTrail(cfg.data_dir, log.child({ component: 'control' }));
  // Counted once before the first scrape can come, then kept up to date in the background.
  await queueGauges.refresh().catch((e: Error) => log.warn('queue folders could not be counted for the metrics', { error: e.message }));
  queueGauges.start();
  control.open();
  queueRecovered = true;
  phase = 'starting: opening the SMTP listeners';
  const retention = startRetention({
    lifetimes: () => ({ quarantine: rt.config.queue.quarantine_lifetime, deadletter: rt.config.queue.deadletter_lifetime }),
    expire: control.expire, swept: () => queueGauges.recount().catch(() => undefined), log: log.child({ component: 'queue' }),
  });
  digests = startDigestSchedule({
    dataDir: cfg.data_dir, store: queue, schedule: (e) => delivery.add(e), config: () => rt.config.quarantine_digest,
    hostname: () => rt.hostname, localDomains: () => rt.config.domains, log: quarantineLog,
    quarantineLifetime: () => rt.config.queue.quarantine_lifetime, listDelimiters: () => recipientDelimiters(rt.config),
  });

  try {
    listeners = await startListeners(rt, tls);
  } catch (e) {
    // Closed as a stop closes them: the SMTP listeners, then the admin listener, then the queue and what it feeds.
    await stopListeners(listeners);
    await admin?.close();
    await digests.stop();
    await retention.stop();
    queueGauges.stop();
    brokenRecheck.stop(); clearInterval(expiryTimer);
    await control.close(); await delivery.stop(); await closePlugins(rt.plugins, log); await relay.close(); await store.close();
    queue.close();
    letGoOfProcess();
    throw e;
  }
  // A gateway left only to drain its queue is a choice, but an empty list is more often a mistake: say so.
  if (!listeners.length) log.warn('no listener configured (server.listen, tls_listen and submission_listen are empty): no mail is accepted, the queue is only delivered');
  phase = 'ready';
  // Where mail goes as configured (`relay`, on a delivery line, is the host that answered): the smarthost without its
  // login, or the folder accepted mail is written to, and how many domains have a route of their own.
  const mainHop = smarthostTarget(cfg.smarthost);
  // And the domains that sign outgoing mail, as `d=/s=` of their signatures.
  const signing = Object.entries(cfg.dkim?.domains ?? {}).map(([d, k]) => `${signingName(d)}/${k.selector}`);
  // Which code runs on this data_dir: after an upgrade the log shows where the new version took over.
  const running = mailmoatVersion();
  log.info('mailmoat started', { version: running.version, ...(running.commit ? { commit: shortCommit(running.commit) } : {}), ...(mainHop ? { smarthost: mainHop.display } : { delivered_to: queue.dirs.delivered }), routes: Object.keys(cfg.routes).length, plugins: rt.plugins.map((p) => p.name), domains: cfg.domains, ...(signing.length ? { dkim: signing } : {}) });

  const retired = new Retired(log, opts.retireAfterMs);
  const stopping = new AbortController();
  const reloadOnce = async (next?: GatewayConfig): Promise<ReloadReport> => {
    const report = await reloadAttempt(next).catch((e) => { lastReload.success = 0; throw e; }).finally(() => { lastReload.at = Math.round(Date.now() / 1000); });
    lastReload.success = report.reloaded ? 1 : 0;
    // An admin who mended file owners and reloads need not wait for the next recheck.
    void brokenRecheck?.recheck();
    return report;
  };
  const reloadAttempt = async (next?: GatewayConfig): Promise<ReloadReport> => {
    let nc: GatewayConfig;
    // The file read, which `moat reload` names: the one the gateway started with, with its start's --set overrides.
    let file = next ? undefined : opts.configFile;
    try {
      if (next) nc = await validateConfig(next);
      // A gateway started on the embedded default reloads that, not a mailmoat.yaml or $MAILMOAT_CONFIG made since.
      else ({ config: nc, file } = await loadConfig({ file: opts.configFile, overrides: opts.configOverrides, embedded: !opts.configFile }));
    } catch (e) {
      const errors = e instanceof ConfigError ? e.issues.map((i) => `${i.path || '(root)'}: ${i.message}`) : [String(e)];
      log.error('config reload refused: the running config is kept', { errors });
      return { reloaded: false, file: e instanceof ConfigError ? e.file : file, errors };
    }
    // `errors` is a list on every refusal's line, as in the report `moat reload` prints.
    const refused = (message: string, errors: string[]): ReloadReport => {
      log.error(message, { errors });
      return { reloaded: false, file, errors };
    };
    // Pinned first: the certificate below is looked for under the running data_dir, not a new one.
    nc = { ...nc, server: { ...nc.server } };
    const ignored = keepRestartOnly(cfg, nc);
    const changed = changedKeys(cfg, nc);
    const applied = APPLIED_ON_RELOAD.filter((key) => JSON.stringify(valueAt(cfg, key)) !== JSON.stringify(valueAt(nc, key)));
    const nextHostname = hostnameOf(nc);
    let nextTls: TlsMaterial;
    const tlsWarnings: string[] = [];
    // A self-signed certificate made for the old name is made anew for the new one.
    try { nextTls = loadTlsLogged(nc, nextHostname, log, false, tlsWarnings); } catch (e) {
      return refused('config reload refused: the running config is kept', [(e as Error).message]);
    }
    // Compiled before anything is swapped: a reload that failed here would leave the new plugins and config running
    // with the old policy.
    let policy: Policy;
    try { policy = compilePolicy(nc); } catch (e) {
      return refused('config reload refused: the running config is kept', [(e as Error).message]);
    }
    // A resolver of its own only when dns changed: a new one starts with an empty cache. Lookups that hold the old one
    // finish on it, and it has nothing to close (each query has its own socket).
    const nextDns = applied.includes('dns') ? createResolver(nc.dns, log.child({ component: 'dns' }), { stats: dnsStats }) : dns;
    const nextServices = nextDns === dns && nextHostname === hostname ? rt.services : servicesWith(nextDns, nextHostname);
    let plugins: LoadedPlugin[];
    const disabled: DisabledPlugin[] = [];
    const warnings: string[] = [...tlsWarnings];
    // A stop gives up a create under way rather than wait out its time limit (RETIRE_AFTER_MS would be too late for systemd).
    try { plugins = await createPlugins(nc.plugins, { ...setup, services: nextServices, maxMessageSize: nc.limits.max_message_size }, disabled, PROJECT_DIR, { signal: stopping.signal, warnings }); } catch (e) {
      return refused('config reload refused: a plugin cannot start; the running config is kept', [String((e as Error).message)]);
    }
    if (stopped) {
      await closePlugins(plugins, log);
      return { reloaded: false, file, errors: ['the gateway is stopping'] };
    }
    // A plugin running now that the new config would leave out for a missing or broken resource would vanish from
    // every message with a reload that says it succeeded: refused, as a missing rules file is. One that was not
    // running (disabled before, or new) is disabled as at start.
    const running = new Set(rt.plugins.map((p) => p.name));
    const lost = disabled.filter((d) => running.has(d.name))
      .map((d) => `plugins[${d.index}]: plugin ${d.name} runs now and this config would disable it: ${d.reason}`);
    if (lost.length) {
      await closePlugins(plugins, log);
      return refused('config reload refused: a running plugin would be disabled; the running config is kept', lost);
    }
    const nextInUse = new InUse();
    nextInUse.trackChain(plugins);
    const before = cfg;
    const old = rt.plugins;
    rt.plugins = plugins;
    rt.config = nc;
    rt.policy = policy;
    rt.services = nextServices;
    setup.services = nextServices;
    dns = nextDns;
    hostname = nextHostname;
    rt.hostname = nextHostname;
    if (applied.includes('auth')) rt.users = new UsersFile(usersFileOf(nc));
    log.configure(nc.log);
    cfg = nc;
    const certificate = certificateChange(tls, nextTls);
    tls = nextTls;
    refreshListeners(listeners, rt, tls);
    admin?.setTls(tls);
    // smtp-server takes the name for the greeting and EHLO when a connection starts, so sessions open keep theirs.
    for (const l of listeners) (l.server.options as { name?: string }).name = nextHostname;
    delivery.setHostname(nextHostname);
    const nextRelay = makeRelay(nc, queue, hostname, dns, log, metrics);
    nextInUse.trackRelay(nextRelay);
    const oldRelay = relay;
    const oldInUse = inUse;
    relay = nextRelay;
    inUse = nextInUse;
    delivery.setRelay(nextRelay);
    delivery.setPolicy(nc.queue);
    digests?.rearm();
    // In-flight hooks and deliveries may still use the old instances for a moment.
    retired.add(old, oldRelay, oldInUse);
    if (ignored.length) log.warn('config reload: these keys change only on restart and keep their running values', { keys: ignored });
    // A domain named in one place and not another fails only that domain's mail, which no other line would tell.
    const domainLines = domainWarnings(nc);
    if (domainLines.length) log.warn('config reload: a domain is named in one place and missing from another', { warnings: domainLines });
    const waiting = await removedDomainMail(before, nc, queue, delivery.scheduled()).catch((e) => {
      log.warn('config reload: could not count the mail waiting for domains taken out', { error: String(e) });
      return [];
    });
    for (const m of waiting) log.warn('config reload: mail waits for a domain taken out of domains', { ...m });
    warnings.push(...domainLines, ...waiting.map(removedDomainWarning));
    const certificateFields = certificate && { certificate: { cn: certificate.now.cn, sha256: certificate.now.sha256, not_after: certificate.now.notAfter, replaced_sha256: certificate.replaced } };
    log.info('config reloaded', { plugins: plugins.map((p) => p.name), ...(applied.length ? { applied } : {}), ...(changed.length ? { changed } : {}), ...certificateFields });
    // A plugin disabled for a missing resource does not refuse the reload (as at start), but the admin who asked must hear of it.
    const report: ReloadReport = {
      reloaded: true, file, changed, restartOnly: ignored, plugins: plugins.map((p) => p.name), ...(disabled.length ? { disabled } : {}), ...(warnings.length ? { warnings } : {}),
      ...(certificate ? { certificate: certificate.now } : {}),
    };
    return report;
  };

  // One reload at a time, and a burst of SIGHUPs while one runs is one more reload, not one per signal: each reload
  // builds a full set of plugin instances (a Bayes dictionary each), and a slower older one must not finish last.
  let chain: Promise<unknown> = Promise.resolve();
  let waiting: Promise<ReloadReport> | undefined;
  const reported = (next?: GatewayConfig): Promise<ReloadReport> => {
    if (!next && waiting) return waiting;
    const run: Promise<ReloadReport> = chain.then(() => {
      // From here on the file is read anew, so a later SIGHUP needs a reload of its own.
      if (waiting === run) waiting = undefined;
      return reloadOnce(next);
    });
    if (!next) waiting = run;
    chain = run.catch(() => undefined);
    return run;
  };
  const reload = (next?: GatewayConfig): Promise<boolean> => reported(next).then((r) => r.reloaded);

  reloadOnHup = reload;
  // `moat reload` joins the same queue as SIGHUP: a request while a file reload waits gets that reload's report.
  reloadByControl = () => stopped
    ? Promise.resolve({ reloaded: false, file: opts.configFile, errors: ['the gateway is stopping'] })
    : reported();

  const stopLoopWatch = watchEventLoop(log, metrics);
  return {
    runtime: rt,
    listeners,
    admin,
    port(kind = 'smtp') {
      const l = listeners.find((x) => x.kind === kind);
      if (!l) throw new Error(`no ${kind} listener`);
      return l.port;
    },
    reload,
    async stop(reason?: string) {
      if (stopped) return;
      stopped = true;
      // At once: what follows may take the 20 s a message still arriving is given, and the log must say why it waits.
      log.info('stopping', { reason: reason ?? stopCause ?? 'requested' });
      // A SIGHUP while stopping is ignored, not left to its default action, which would end the process mid-stop.
      reloadOnHup = undefined;
      phase = 'stopping';
      // The quarantine pages answer 503 with Retry-After again: the queue they act on is about to close.
      queueRecovered = false;
      // From the first moment, beside the SMTP sessions finishing: no delivery attempt starts any more, and those
      // under way get a grace before they are cut off, so a hung smarthost cannot hold the stop for its timeout.
      const deliveriesStopped = delivery.stop(opts.deliveryStopGraceMs);
      deliveriesStopped.catch(() => undefined);
      await stopListeners(listeners, opts.dataStopGraceMs === undefined ? undefined : { dataGraceMs: opts.dataStopGraceMs, replyLimitMs: STOP_REPLY_LIMIT_MS });
      // A reload under way finishes first (seeing `stopped`, it closes what it built) rather than racing the closes below;
      // a plugin create it waits for is given up, so a create that never ends cannot hold the stop.
      stopping.abort('the gateway is stopping');
      await chain;
      await retention.stop();
      await digests?.stop();
      queueGauges.stop();
      brokenRecheck?.stop(); clearInterval(expiryTimer);
      stopLoopWatch();
      await control?.close();
      await deliveriesStopped;
      await retired.closeAll();
      await closePlugins(rt.plugins, log);
      await relay.close();
      await store.close();
      queue.close();
      // Last: until the process is done, /health/live answers 200, /health/ready 503 stopping, and /metrics is served.
      await admin?.close();
      log.info('mailmoat stopped', { metrics: metrics.snapshot() });
      // The console stays captured: a library may still print (a lazy load finishing) until the process exits.
      if (opts.handleSignals) process.off('SIGHUP', onHup);
      releaseSignals();
    },
  };
}

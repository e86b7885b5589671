// The haraka plugin: runs the Haraka plugins of a Haraka folder, unchanged, at this point of Mailmoat's chain.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { definePlugin } from '../../core/index.ts';
import { constants, haraka, pinHarakaRoot, requireCjs, type Any } from './cjs.ts';
import { checkOptions, configSchema, type HarakaConfig } from './config.ts';
import { installDnsRedirect, redirectDns } from './dns-redirect.ts';
import { configReadErrors, forgetCachedConfig, restoreCachedConfig } from './config-cache.ts';
import { folderProblem, ignoresBadPlugins } from './folder-check.ts';
import { unparsableConfigFiles, unparsableMessage } from './config-files.ts';
import { reportHooks } from './hook-report.ts';
import { loadFolder, pluginName, searchPaths, type LoadedFolder } from './loader.ts';
import { levelNumber } from './log.ts';
import { runHook } from './runner.ts';
import { timersOf } from './plugin-timers.ts';
import { hookDeadline } from './hook-deadline.ts';
import { attachServerLog, harakaServer } from './server.ts';
import { createHooks } from './session.ts';

// haraka-net-utils keeps dns.promises.Resolver when it loads: the redirectable class must be in place first.
installDnsRedirect();

/**
 * Open entries per Haraka folder. A reload creates the new entry before the old one closes, and both share the
 * process-wide parts (server.notes.redis, haraka-config's watchers, which are keyed by path): only the last entry
 * to close may tear those down.
 */
const openDirs = new Map<string, number>();

/** Waits for haraka-tld's lists when the installed release loads them asynchronously (1.3.5 and later). */
async function tldReady(log: { warn(msg: string, fields?: Record<string, unknown>): void }): Promise<void> {
  let tld: Any;
  try { tld = requireCjs('haraka-tld'); } catch { return; } // not installed: no plugin can use it
  try { await tld.ready; } catch (err) { log.warn('haraka-tld could not load its lists', { error: (err as Error).message }); }
}

function forget(dir: string): void {
  const left = (openDirs.get(dir) ?? 1) - 1;
  if (left) openDirs.set(dir, left); else openDirs.delete(dir);
}

const definition = definePlugin<HarakaConfig>({
  name: 'haraka',
  description: 'Runs unchanged Haraka plugins (plain and npm) from a Haraka folder as part of the chain',
  configSchema,
  // What a Haraka plugin does without DNS is its own affair: taken to defer, as a blocklist would.
  dnsOutage: () => 'tempfail',
  // What `moat check-config` asks beyond the schema: a relative `dir` needs the config's folder.
  check: checkOptions,
  symbols: {
    HARAKA_KARMA: 'karma\'s connection score (times karma_factor)',
    'HARAKA_<PLUGIN>_FAIL': 'a Haraka plugin recorded a failure in its results',
    'HARAKA_<PLUGIN>_ERROR': 'a Haraka plugin recorded an error in its results',
    'HARAKA_<PLUGIN>_SCORE': 'the numeric score in the results of a plugin named in score_factors (rspamd, spamassassin), times its factor',
  },
  async create(cfg, setup) {
    const dir = path.resolve(setup.configDir, cfg.dir);
    // Checked before anything process-wide is touched: the first entry pins Haraka's root to its folder for good.
    const problem = folderProblem(dir);
    if (problem) throw new Error(problem);
    // Every structured file, not only those the plugins read while they load: one read first in a hook would get {}.
    // `moat check-config` runs the same check, so it passes only a folder that starts.
    const broken = unparsableConfigFiles(dir);
    if (broken.length) throw new Error(unparsableMessage(broken));
    const undoDns = cfg.dns_servers.length ? redirectDns(cfg.dns_servers) : undefined;
    pinHarakaRoot(dir);
    constants.import(globalThis);
    const server = harakaServer();
    const { config } = haraka();
    // A reload right after an edit must see the edit, not what haraka-config cached before it.
    const cachedBefore = forgetCachedConfig();
    const folderConfig = config.module_config(dir);
    const unknown = unknownPlugin(dir, folderConfig);
    if (unknown) {
      undoDns?.();
      throw new Error(unknown);
    }
    const level = levelNumber(cfg.log_level ?? folderConfig.get('log.ini').main?.level ?? folderConfig.get('loglevel'));
    const sink = { logger: setup.log, level };
    attachServerLog(sink);
    // haraka-tld reads its suffix lists asynchronously; plugins that look domains up in register() (access's
    // access.domains) would otherwise find every name unknown and keep an empty list.
    await tldReady(setup.log);
    let folder: LoadedFolder;
    try {
      folder = loadFolder(dir, sink);
    } catch (err) {
      undoDns?.();
      throw err;
    }
    openDirs.set(dir, (openDirs.get(dir) ?? 0) + 1);
    const shutDown = () => shutDownEntry({ dir, folder, server, folderConfig, undoDns, log: setup.log });

    // haraka-config answers an unparsable file with an empty config and a line on stderr: plugins would run on
    // their defaults, so the start (or the reload) is refused instead.
    const unreadable = configReadErrors(dir);
    restoreCachedConfig(cachedBefore, unreadable);
    if (unreadable.length) {
      // The plugins have registered by now (timers, watchers, connections): refused, they must not outlive the entry.
      await shutDown();
      throw new Error(unparsableMessage(unreadable));
    }
    setup.log.info('haraka plugins loaded', { dir, plugins: [...folder.pluginList] });
    if (!folder.pluginList.length) {
      setup.log.warn('haraka entry runs no plugins: its config/plugins names none', { dir });
    }
    reportHooks(folder.registry, dir, setup.log);

    // A plugin with no timeout of its own still answers within the entry's: Mailmoat cannot wait for ever.
    if (setup.entryTimeout) folder.registry.fallbackTimeoutMs = setup.entryTimeout;
    // Single-process Haraka runs init_master only; anything but OK/CONT stops the start, as it stops Haraka.
    const init = await runHook(folder.registry, 'init_master', server);
    if (init.retval !== constants.ok && init.retval !== constants.cont) {
      await shutDown();
      throw new Error(`haraka plugin ${init.plugin} refused init_master: ${init.msg ?? constants.translate(init.retval)}`);
    }

    return {
      hooks: createHooks(folder, { sink, scores: cfg.scores, karmaFactor: cfg.karma_factor, scoreFactors: cfg.score_factors }),
      close: shutDown,
      // Room for every plugin's own timeout: a hung plugin is answered by Haraka's DENYSOFT, not the core's 451.
      hookTimeout: (hook) => (setup.entryTimeout ? hookDeadline(folder.registry, hook, setup.entryTimeout) : undefined),
    };
  },
});

/**
 * The first name of config/plugins that no search path holds, as Haraka's loader words it, unless smtp.ini skips
 * such plugins. Asked before any plugin loads: refused halfway, the plugins loaded before it would keep their timers
 * and connections with no entry left to shut them down.
 */
function unknownPlugin(dir: string, folderConfig: Any): string | undefined {
  const names: string[] = folderConfig.get('plugins', 'list');
  const name = names.map(pluginName).find((n) => !searchPaths(dir, n).some((p) => existsSync(p)));
  if (name === undefined || ignoresBadPlugins(dir)) return undefined;
  return `Loading plugin ${name} failed: No plugin with this name found`;
}

/** How long one plugin's shutdown() may take: one that never settles must not hold the gateway's stop or a reload. */
const SHUTDOWN_LIMIT_MS = 5000;

async function shutDownPlugin(plugin: Any, log: { warn(msg: string, fields?: Record<string, unknown>): void }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), SHUTDOWN_LIMIT_MS); });
  try {
    const done = await Promise.race([Promise.resolve().then(() => plugin.shutdown?.()), limit]);
    if (done === 'late') log.warn(`haraka plugin ${plugin.name} shutdown did not finish in ${SHUTDOWN_LIMIT_MS / 1000} s: left behind`, { haraka_plugin: plugin.name });
  } catch (err) {
    log.warn('haraka plugin shutdown failed', { haraka_plugin: plugin.name, error: (err as Error).message });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Shuts an entry's Haraka plugins down, as Haraka does on exit: on close, and when a start or reload is refused
 * after they loaded. What the process shares (the Redis client, haraka-config's watchers) goes with the last entry.
 */
async function shutDownEntry(entry: {
  dir: string; folder: LoadedFolder; server: Any; folderConfig: Any; undoDns?: () => void;
  log: { warn(msg: string, fields?: Record<string, unknown>): void };
}): Promise<void> {
  const { dir, folder, server, folderConfig, undoDns, log } = entry;
  forget(dir);
  const redis = server.notes.redis;
  // The redis plugin's shutdown quits server.notes.redis, and plugins sharing it would each quit it: hide it
  // from them; the shim closes it below once no entry uses it any more.
  delete server.notes.redis;
  for (const plugin of folder.registry.plugins.values() as Iterable<Any>) {
    const shared = redis && plugin.db === redis;
    if (shared) plugin.db = undefined;
    await shutDownPlugin(plugin, log);
    if (shared) plugin.db = redis;
    // Haraka exits after its shutdown; here the process goes on (a reload) or must be able to end (a stop).
    const left = timersOf(plugin).reduce((n, t) => n + t.clearLeft(), 0);
    if (left) log.warn(`haraka plugin ${plugin.name} left ${left} timer(s) running after its shutdown: cleared`, { haraka_plugin: plugin.name });
  }
  if (openDirs.size) {
    if (redis) server.notes.redis ??= redis;
  } else if (redis?.isOpen) {
    try { await redis.quit(); } catch { /* already closing */ }
  }
  undoDns?.();
  // haraka-config watches every file it read; a closed entry's folder may go away (tests, reloads).
  if (!openDirs.has(dir)) {
    try { for (const f of readdirSync(path.join(dir, 'config'))) folderConfig.stop_watching(f); } catch { /* no config dir */ }
  }
}

export default definition;

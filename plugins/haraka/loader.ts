// Finds, compiles and registers the plugins of a Haraka folder exactly as `haraka -c <dir>` does.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { HARAKA_DIR, requireCjs, constants, haraka, type Any } from './cjs.ts';
import { Plugin, requireFromHaraka, type FolderContext } from './plugin.ts';
import { HookRegistry } from './registry.ts';
import { harakaServer } from './server.ts';
import { SINK, type LogSink } from './log.ts';
import { requirePackage } from './package-code.ts';
import { ignoresBadPlugins } from './folder-check.ts';
import { PLAIN_PREFIX, PluginCodeError, pluginCodeError } from './plugin-code.ts';
import { adoptTimers, pluginTimers, timersOf } from './plugin-timers.ts';

/** Old names Haraka still accepts in config/plugins, and what they load now (Haraka's `plugins.deprecated`). */
export const DEPRECATED: Readonly<Record<string, string>> = {
  'auth/auth_ldap': 'auth-ldap', backscatterer: 'dns-list', 'connect.asn': 'asn', 'connect.fcrdns': 'fcrdns',
  'connect.geoip': 'geoip', 'connect.p0f': 'p0f', 'connect.rdns_access': 'access', 'data.nomsgid': 'headers',
  'data.noreceived': 'headers', 'data.rfc5322_header_checks': 'headers', 'data.headers': 'headers',
  dkim_sign: 'dkim', dkim_verify: 'dkim', 'data.uribl': 'uribl', dnsbl: 'dns-list', dnswl: 'dns-list',
  'log.syslog': 'syslog', 'mail_from.access': 'access', 'mail_from.blocklist': 'access', 'mail_from.nobounces': 'bounce',
  max_unrecognized_commands: 'limit', rate_limit: 'limit', 'rcpt_to.access': 'access', 'rcpt_to.blocklist': 'access',
  'rcpt_to.ldap': 'rcpt-ldap', 'rcpt_to.max_count': 'limit', 'rcpt_to.qmail_deliverable': 'qmail-deliverable',
  'rdns.regexp': 'access', relay_acl: 'relay', relay_all: 'relay', relay_force_routing: 'relay',
};

/** A plugin's short name: without the `haraka-plugin-` prefix of its npm package. */
function shortName(name: string): string {
  return name.startsWith('haraka-plugin-') ? name.slice('haraka-plugin-'.length) : name;
}

/** The name a config/plugins line loads: its short name, an old name as its replacement. */
export function pluginName(line: string): string {
  const name = shortName(line);
  return Object.hasOwn(DEPRECATED, name) ? DEPRECATED[name] : name;
}

/** Candidate files for a plugin name, in Haraka's search order (installed mode, then the haraka package). */
export function searchPaths(dir: string, name: string): string[] {
  const inPrefix = (prefix: string) => [
    path.resolve(prefix, 'plugins', `${name}.js`),
    path.resolve(prefix, 'node_modules', `haraka-plugin-${name}`, 'package.json'),
    path.resolve(prefix, '..', `haraka-plugin-${name}`, 'package.json'),
  ];
  return [
    ...inPrefix(dir),
    path.resolve(dir, 'plugins', name, 'package.json'),
    path.resolve(dir, 'node_modules', name, 'package.json'),
    ...inPrefix(HARAKA_DIR),
  ];
}

export interface LoadedFolder extends FolderContext {
  /** Haraka's global config for this folder (plugins list, timeouts, smtp.ini, connection.ini). */
  readonly config: Any;
  /** Short names in load order. */
  readonly pluginList: string[];
}

/** The custom `require` of plain plugins (Haraka's `_make_custom_require`). */
function plainRequire(plugin: Plugin): (id: string) => Any {
  return (id: string) => {
    if (id === './config') return plugin.config;
    if (!id.startsWith('.')) return requireFromHaraka(id);
    for (const candidate of [`${id}.js`, id]) {
      if (existsSync(path.join(HARAKA_DIR, candidate))) return requireCjs(path.join(HARAKA_DIR, id));
    }
    return requireCjs(path.join(path.dirname(plugin.plugin_path), id));
  };
}

/** Compiles a plugin's code onto its instance; `extraGlobals` adds sandbox globals (test fixtures add `console`). */
export function compileInto(plugin: Plugin, extraGlobals: Record<string, Any> = {}): void {
  if (plugin.hasPackageJson) {
    // Haraka runs `require(pkgdir)` in a one-line vm stub and copies the enumerable exports; same effect here, but
    // an edited package is loaded anew (package-code.ts), as a plain plugin's file is compiled anew below.
    const { exports: mod, reloaded, warning } = requirePackage(path.dirname(plugin.plugin_path));
    const { logger } = plugin[SINK] as LogSink;
    if (reloaded) logger.info(`haraka plugin ${plugin.name}: its package's code changed since it was loaded: loaded anew`, { files: reloaded });
    if (warning) logger.warn(`haraka plugin ${plugin.name}: ${warning}`);
    constants.import(globalThis);
    (globalThis as Any).server = harakaServer();
    for (const k in mod) plugin[k] = mod[k];
    return;
  }
  const code = `${PLAIN_PREFIX}${readFileSync(plugin.plugin_path, 'utf8')}`;
  const timers = pluginTimers();
  adoptTimers(plugin, [timers]);
  const { clearTimeout, clearInterval, setInterval, setTimeout, setImmediate } = timers.globals;
  const sandbox: Record<string, Any> = {
    require: plainRequire(plugin), __filename: plugin.plugin_path, __dirname: path.dirname(plugin.plugin_path),
    exports: plugin, fetch, clearTimeout, clearInterval, process, setInterval, setTimeout, Buffer, Math,
    server: harakaServer(), setImmediate, ...extraGlobals,
  };
  constants.import(sandbox);
  vm.runInNewContext(code, sandbox, { filename: plugin.plugin_path });
}

/**
 * Loads `<dir>/config/plugins` and every plugin it names, registers their hooks and returns the folder.
 * @example
 *   const folder = loadFolder('/etc/haraka', { logger, level: 4 });
 *   folder.registry.queue('mail'); // [[plugin, 'hook_mail'], …]
 */
export function loadFolder(dir: string, sink: LogSink): LoadedFolder {
  const { config: rootConfig } = haraka();
  const config = rootConfig.module_config(HARAKA_DIR, dir);
  const ignoreBad = ignoresBadPlugins(dir);
  const registry = new HookRegistry();

  const folder: LoadedFolder = {
    dir, registry, sink, config, pluginList: [],
    timeoutFor(name: string): number {
      let t = Number.parseFloat(config.get(`${name}.timeout`));
      if (Number.isNaN(t)) t = Number.parseFloat(config.get('plugin_timeout'));
      return Number.isNaN(t) ? 30 : t;
    },
    compile(rawName: string): Plugin {
      const name = shortName(rawName);
      const found = searchPaths(dir, name).find((p) => existsSync(p));
      if (!found) throw new Error(`Loading plugin ${name} failed: No plugin with this name found`);
      const isPackage = path.basename(found) === 'package.json';
      const plugin = new Plugin(name, found, isPackage, folder);
      // V8 puts a syntax error's file and line in the stack only: the admin would read "Unexpected token" alone.
      try { compileInto(plugin); } catch (err) { throw pluginCodeError(name, found, isPackage, err); }
      return plugin;
    },
  };

  // The list is the folder's own file: the config above would fall back to Haraka's sample list
  // (mail_from.is_resolvable, rcpt_to.in_host_list, queue/smtp_forward) when the folder's file is missing or empty.
  const names: string[] = rootConfig.module_config(dir).get('plugins', 'list');
  try {
    registerAll(names, folder, registry, ignoreBad, sink);
  } catch (err) {
    // A plugin that does not compile, or whose register() throws, refuses the folder: those registered before it
    // hold timers and clients of their own, which nothing else would ever shut down.
    for (const plugin of registry.plugins.values() as Iterable<Any>) {
      try { Promise.resolve(plugin.shutdown?.()).catch(() => undefined); } catch { /* refused already */ }
      for (const t of timersOf(plugin)) t.clearLeft();
    }
    throw err;
  }
  return folder;
}

function registerAll(names: string[], folder: LoadedFolder, registry: HookRegistry, ignoreBad: boolean, sink: LogSink): void {
  for (const raw of names) {
    const name = pluginName(raw);
    if (name !== shortName(raw)) sink.logger.info(`haraka plugin ${shortName(raw)} has been replaced by '${name}'`);
    let plugin: Plugin;
    try {
      plugin = folder.compile(name);
    } catch (err) {
      if (!ignoreBad) throw err;
      sink.logger.error(`haraka plugin ${name} skipped: ${err instanceof PluginCodeError ? err.detail : (err as Error).message}`);
      continue;
    }
    registry.plugins.set(plugin.name, plugin);
    // Not awaited, as in Haraka: an async register() (asn) adds hooks later, into the live registry.
    let pending: Any;
    try {
      pending = plugin.register();
    } catch (err) {
      throw pluginCodeError(plugin.name, plugin.plugin_path, plugin.hasPackageJson, err, 'register()');
    }
    if (pending && typeof pending.then === 'function') {
      pending.then(undefined, (err: Error) => sink.logger.error(`haraka plugin ${name} register failed`, { error: err.message }));
    }
    for (const key in plugin) {
      const m = /^hook_(\w+)\b/.exec(key);
      if (m) plugin.register_hook(m[1], key);
    }
    folder.pluginList.push(plugin.name);
  }
}

// Haraka's Plugin object: one instance per loaded plugin, carrying the module's exports plus Haraka's plugin API.
import path from 'node:path';
import { createRequire } from 'node:module';
import { HARAKA_DIR, requireCjs, haraka, type Any } from './cjs.ts';
import { addLogMethods, SINK, type LogSink } from './log.ts';
import type { HookRegistry } from './registry.ts';
import { adoptTimers, timersOf } from './plugin-timers.ts';

/** What a plugin needs from the folder it was loaded from. */
export interface FolderContext {
  readonly dir: string;
  readonly registry: HookRegistry;
  readonly sink: LogSink;
  /** Haraka's `<name>.timeout`, `plugin_timeout`, 30 s. */
  timeoutFor(name: string): number;
  /** Loads and compiles a plugin without registering it (for `inherits`). */
  compile(name: string): Plugin;
}

const FOLDER = Symbol('haraka.folder');

/**
 * Files of Haraka's own config folder that are an example install's data, not defaults: its `host_list` names
 * `haraka.local`, which rcpt_to.in_host_list would accept (OK, past Mailmoat's relay rule) from anyone and relay
 * whenever the Haraka folder's own list is missing or empty (a flat list's empty override keeps the default).
 */
const SAMPLE_DATA: ReadonlySet<string> = new Set(['host_list']);

/** `merged`, except that the sample files are read from the Haraka folder alone (`folderOnly`). */
function withoutSampleData(merged: Any, folderOnly: Any): Any {
  const cfg = Object.create(merged);
  cfg.get = (name: string, ...rest: Any[]) => (SAMPLE_DATA.has(name) ? folderOnly : merged).get(name, ...rest);
  return cfg;
}

/** Bare module names in plain plugins resolve from Haraka's own folder, as `haraka -c` does. */
export const requireFromHaraka = createRequire(path.join(HARAKA_DIR, 'package.json'));

export class Plugin {
  [key: string | symbol]: Any;

  constructor(name: string, pluginPath: string, hasPackageJson: boolean, folder: FolderContext) {
    this.name = name;
    this.base = {};
    this.hooks = {};
    this.plugin_path = pluginPath;
    this.hasPackageJson = hasPackageJson;
    this.timeout = folder.timeoutFor(name);
    const { config } = haraka();
    // Package: defaults beside the package, overrides in the folder; plain: Haraka's defaults, same overrides.
    this.config = hasPackageJson
      ? config.module_config(path.dirname(pluginPath), folder.dir)
      : withoutSampleData(config.module_config(HARAKA_DIR, folder.dir), config.module_config(folder.dir));
    Object.defineProperty(this, FOLDER, { value: folder });
    Object.defineProperty(this, SINK, { value: folder.sink });
  }

  register(): void {}

  register_hook(hook: string, method: string, priority?: unknown): void {
    (this[FOLDER] as FolderContext).registry.add(hook, this.name, method, priority);
    (this.hooks[hook] ??= []).push(method);
  }

  inherits(parentName: string): void {
    const parent = (this[FOLDER] as FolderContext).compile(parentName);
    for (const key in parent) {
      if (!this[key]) this[key] = parent[key];
    }
    // The parent's code runs as this plugin, with the parent's sandbox timers: they close with this plugin.
    adoptTimers(this, timersOf(parent));
    if (parent.register) parent.register.call(this);
    this.base[parentName] = parent;
  }

  haraka_require(name: string): Any {
    return requireCjs(path.join(HARAKA_DIR, name));
  }
}
addLogMethods(Plugin.prototype);

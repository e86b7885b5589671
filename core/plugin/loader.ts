// Finds plugin modules by name, validates each entry's options against the plugin's schema, and creates instances.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Issue } from '../config/schema.ts';
import { formatDuration } from '../config/units.ts';
import type { Logger } from '../log/types.ts';
import type { PluginDefinition, PluginInstance, PluginSetup } from './define.ts';
import { PluginUnavailableError } from './define.ts';

/** The project root (the folder holding core/ and plugins/). */
export const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const CORE_ENTRY_KEYS = new Set(['name', 'module', 'required', 'timeout']);

export interface EntryLike { name: string; module?: string; required: boolean; timeout: number; [k: string]: unknown }

function modulePath(entry: EntryLike, projectDir: string): string {
  if (entry.module) return path.resolve(entry.module);
  return path.join(projectDir, 'plugins', entry.name, 'index.ts');
}

/** Definitions by module file, with the file's modification time when it was imported. */
const cache = new Map<string, { def: PluginDefinition<unknown>; mtimeMs: number }>();

function modifiedAt(file: string): number {
  try { return statSync(file).mtimeMs; } catch { return NaN; }
}

/**
 * Whether the entry's module file changed on disk since it was imported. Node keeps an imported module (and every
 * file it imports) for the life of the process, so a reload goes on running the code that was loaded first.
 */
export function moduleChangedSinceLoad(entry: EntryLike, projectDir = PROJECT_DIR): string | undefined {
  const file = modulePath(entry, projectDir);
  const hit = cache.get(file);
  return hit && modifiedAt(file) !== hit.mtimeMs ? file : undefined;
}

/** Imports a plugin's definition (its module's default export). */
export async function importPlugin(entry: EntryLike, projectDir = PROJECT_DIR): Promise<PluginDefinition<unknown>> {
  const file = modulePath(entry, projectDir);
  const hit = cache.get(file);
  if (hit) return hit.def;
  if (!existsSync(file)) {
    throw new Error(entry.module ? `no plugin module at ${file}` : `no plugin named "${entry.name}" (looked for ${file})`);
  }
  const mtimeMs = modifiedAt(file);
  let mod: Record<string, unknown>;
  // A module that throws while it loads (a syntax error, a missing import) says neither its file nor the plugin.
  try { mod = await import(pathToFileURL(file).href); } catch (e) {
    throw new Error(`plugin "${entry.name}" cannot be loaded from ${file}: ${(e as Error)?.message ?? String(e)}`);
  }
  const def = (mod.default ?? mod.plugin) as PluginDefinition<unknown> | undefined;
  if (!def || typeof def.create !== 'function' || !def.configSchema) throw new Error(`${file} does not export a definePlugin(...) as default`);
  cache.set(file, { def, mtimeMs });
  return def;
}

/** The entry's own options: everything but the keys the core reads. */
export function pluginOptions(entry: EntryLike): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) if (!CORE_ENTRY_KEYS.has(k)) out[k] = v;
  return out;
}

/** Checks every plugin entry against its plugin's schema; issues are named `plugins[i].key`. */
export async function validatePluginOptions(entries: EntryLike[], projectDir = PROJECT_DIR, skip: (index: number) => boolean = () => false): Promise<Issue[]> {
  const issues: Issue[] = [];
  for (const [i, entry] of entries.entries()) {
    if (skip(i)) continue;
    let def: PluginDefinition<unknown>;
    try { def = await importPlugin(entry, projectDir); } catch (e) {
      issues.push({ path: `plugins[${i}].${entry.module ? 'module' : 'name'}`, message: (e as Error).message });
      continue;
    }
    const before = issues.length;
    const cfg = def.configSchema.parse(pluginOptions(entry), `plugins[${i}]`, issues);
    const need = issues.length === before ? def.neededTimeout?.(cfg) : undefined;
    // The entry's timeout cuts every hook call off with a 451 before the plugin's own limit could answer as configured.
    if (need && entry.timeout <= need.ms) {
      issues.push({ path: `plugins[${i}].timeout`, message: `is ${formatDuration(entry.timeout)}, not above ${need.why} (${formatDuration(need.ms)}): the hook would be cut off before the plugin's own limit answers` });
    }
  }
  return issues;
}

export interface LoadedPlugin {
  name: string;
  timeout: number;
  instance: PluginInstance;
}

/** Closes each instance in turn; one that fails to close is logged and the others still are. */
export async function closePlugins(plugins: LoadedPlugin[], log: Logger): Promise<void> {
  for (const p of plugins) {
    try { await p.instance.close?.(); } catch (e) { log.warn('plugin close failed', { plugin: p.name, error: String(e) }); }
  }
}

/**
 * Creates plugin instances in chain order; a plugin that cannot run is disabled with a logged reason, unless
 * required. When one stops the start, the instances made before it are closed: their threads, timers and
 * connections would otherwise outlive a start that failed, or stay beside the chain a refused reload kept.
 */
export async function createPlugins(entries: EntryLike[], setup: PluginSetup, disabled: DisabledPlugin[] = [], projectDir = PROJECT_DIR): Promise<LoadedPlugin[]> {
  const out: LoadedPlugin[] = [];
  try {
    await createEach(entries, setup, projectDir, out, disabled);
  } catch (e) {
    await closePlugins(out, setup.log);
    throw e;
  }
  return out;
}

/** A plugin left out of the chain because its resource is missing (`PluginUnavailableError`), with why. */
export interface DisabledPlugin { name: string; reason: string }

async function createEach(entries: EntryLike[], setup: PluginSetup, projectDir: string, out: LoadedPlugin[], disabled: DisabledPlugin[]): Promise<void> {
  for (const [i, entry] of entries.entries()) {
    const def = await importPlugin(entry, projectDir);
    const issues: Issue[] = [];
    const cfg = def.configSchema.parse(pluginOptions(entry), `plugins[${i}]`, issues);
    if (issues.length) throw new Error(issues.map((x) => `${x.path}: ${x.message}`).join('; '));
    const log = setup.log.child({ plugin: def.name });
    // The module's own name tags its log lines and findings; an entry naming it otherwise would be looked for in vain.
    if (entry.module && entry.name !== def.name) log.warn('plugin entry name differs from the name its module defines, which its log lines and findings use', { entry: entry.name, module: entry.module });
    const changed = moduleChangedSinceLoad(entry, projectDir);
    if (changed) log.warn('plugin code changed since it was loaded: the code loaded first runs until a restart', { file: changed });
    try {
      const instance = await def.create(cfg, { ...setup, log, chain: { names: entries.map((e) => e.name), index: i } });
      out.push({ name: def.name, timeout: entry.timeout, instance });
    } catch (e) {
      const reason = (e as Error).message;
      if (entry.required || !(e instanceof PluginUnavailableError)) {
        throw new Error(`plugin ${def.name} cannot start: ${reason}`);
      }
      log.warn('plugin disabled', { reason });
      disabled.push({ name: def.name, reason });
    }
  }
}

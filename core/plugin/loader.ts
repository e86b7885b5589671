// Finds plugin modules by name, validates each entry's options against the plugin's schema, and creates instances.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Issue } from '../config/schema.ts';
import { formatDuration } from '../config/units.ts';
import type { Logger } from '../log/types.ts';
import type { PluginDefinition, PluginInstance, PluginSetup, SymbolListing } from './define.ts';
import { PluginUnavailableError, symbolListing } from './define.ts';
import { changedFile, fingerprintCode, type CodeFingerprint } from './code-fingerprint.ts';
import { recordWarnings } from './create-warnings.ts';
import { counterClashIssues, entryNames, sharedNameWarnings } from './entry-names.ts';

/** The project root (the folder holding core/ and plugins/). */
export const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const CORE_ENTRY_KEYS = new Set(['name', 'module', 'required', 'timeout']);

export interface EntryLike { name: string; module?: string; required: boolean; timeout: number; [k: string]: unknown }

function modulePath(entry: EntryLike, projectDir: string): string {
  if (entry.module) return path.resolve(entry.module);
  return path.join(projectDir, 'plugins', entry.name, 'index.ts');
}

/** Definitions by module file, with the content of the plugin's code when it was imported. */
const cache = new Map<string, { def: PluginDefinition<unknown>; code: CodeFingerprint }>();

/**
 * The plugin file whose content changed on disk since the entry's module was imported, if any. Node keeps an imported
 * module (and every file it imports) for the life of the process, so a reload goes on running the code loaded first.
 */
export function moduleChangedSinceLoad(entry: EntryLike, projectDir = PROJECT_DIR): string | undefined {
  const hit = cache.get(modulePath(entry, projectDir));
  return hit ? changedFile(hit.code) : undefined;
}

/** Imports a plugin's definition (its module's default export). */
export async function importPlugin(entry: EntryLike, projectDir = PROJECT_DIR): Promise<PluginDefinition<unknown>> {
  const file = modulePath(entry, projectDir);
  const hit = cache.get(file);
  if (hit) return hit.def;
  if (!existsSync(file)) {
    throw new Error(entry.module ? `no plugin module at ${file}` : `no plugin named "${entry.name}" (looked for ${file})`);
  }
  // Read before the import, so an edit made while it loads is seen as a change rather than taken for the code loaded.
  const code = fingerprintCode(file);
  let mod: Record<string, unknown>;
  // A module that throws while it loads (a syntax error, a missing import) says neither its file nor the plugin.
  try { mod = await import(pathToFileURL(file).href); } catch (e) {
    throw new Error(`plugin "${entry.name}" cannot be loaded from ${file}: ${(e as Error)?.message ?? String(e)}`);
  }
  const def = (mod.default ?? mod.plugin) as PluginDefinition<unknown> | undefined;
  if (!def || typeof def.create !== 'function' || !def.configSchema) throw new Error(`${file} does not export a definePlugin(...) as default`);
  cache.set(file, { def, code });
  return def;
}

/**
 * Why an entry whose `name` is not its module's own name is worth a warning, as start, reload and check-config say it:
 * everything goes by the entry's name, and a plugin that reads the module's findings by the module's name (dmarc and
 * user-lists read spf's) does not see them.
 */
export function nameMismatch(index: number, entryName: string, moduleName: string): string {
  return `plugins[${index}].name: is "${entryName}" but its module defines "${moduleName}": its findings, log lines, counters and scores.max_per_plugin cap go by "${entryName}", so a plugin, rule or script that looks for ${moduleName}'s findings by that name does not see these`;
}

/** The entry's own options: everything but the keys the core reads. */
export function pluginOptions(entry: EntryLike): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) if (!CORE_ENTRY_KEYS.has(k)) out[k] = v;
  return out;
}

/** Checks every plugin entry against its plugin's schema, and that no two count under one name; issues are named `plugins[i].key`. */
export async function validatePluginOptions(entries: EntryLike[], projectDir = PROJECT_DIR, skip: (index: number) => boolean = () => false): Promise<Issue[]> {
  const issues: Issue[] = counterClashIssues(entries, skip);
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

/** An entry's plugin and its options parsed, or what was thrown importing or parsing them. */
type ParsedEntry =
  | { def: PluginDefinition<unknown>; cfg: unknown; issues: Issue[] }
  | { failed: unknown };

/** Imports each entry's plugin and parses its options, once, for both the chain's symbol listing and its create. */
async function parseEntries(entries: EntryLike[], projectDir: string): Promise<ParsedEntry[]> {
  const out: ParsedEntry[] = [];
  for (const [i, entry] of entries.entries()) {
    try {
      const def = await importPlugin(entry, projectDir);
      const issues: Issue[] = [];
      const cfg = def.configSchema.parse(pluginOptions(entry), `plugins[${i}]`, issues);
      out.push({ def, cfg, issues });
    } catch (e) {
      out.push({ failed: e });
    }
  }
  return out;
}

const anySymbol = (): SymbolListing => ({ symbols: [], any: true });

/**
 * What each entry can record with its options, in chain order, for a plugin that reads the findings of others. An
 * entry that does not load or whose options are in error is taken to record anything: its own error is said elsewhere.
 */
function listingsOf(parsed: readonly ParsedEntry[]): SymbolListing[] {
  return parsed.map((p) => {
    if ('failed' in p || p.issues.length) return anySymbol();
    try { return symbolListing(p.def, p.cfg); } catch { return anySymbol(); }
  });
}

/** `listingsOf` the entries as configured, for `moat check-config`. */
export async function chainSymbols(entries: EntryLike[], projectDir = PROJECT_DIR): Promise<SymbolListing[]> {
  return listingsOf(await parseEntries(entries, projectDir));
}

export interface LoadedPlugin {
  /**
   * What the plugin's findings, state, log lines, counters, timeouts and cap go by: its entry's `name`, or `name#2`…
   * for a later entry of one name (`entryNames`), so that two entries of one module are two plugins.
   */
  name: string;
  /** The name its module defines (`rbl` for an entry `rbl-extra` loading plugins/rbl/index.ts): what kind of plugin it is. */
  moduleName: string;
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
export async function createPlugins(entries: EntryLike[], setup: PluginSetup, disabled: DisabledPlugin[] = [], projectDir = PROJECT_DIR, opts: CreateOptions = {}): Promise<LoadedPlugin[]> {
  const out: LoadedPlugin[] = [];
  try {
    await createEach(entries, setup, projectDir, out, disabled, opts);
  } catch (e) {
    await closePlugins(out, setup.log);
    throw e;
  }
  return out;
}

/** How long a plugin's `create` may take unless its definition asks for more (`createTimeout`). */
export const CREATE_TIMEOUT_MS = 30_000;

export interface CreateOptions {
  /** Ends the wait for a `create` under way (a stop while a reload builds its chain); the start or reload then fails. */
  signal?: AbortSignal;
  /** Gets what is logged as a warning about an entry (its code changed since it was loaded, a name its module does not use), for `moat reload` to print. */
  warnings?: string[];
}

/** A `create` that did not finish in its time, or was given up by a stop: never a reason to just disable the plugin. */
class CreateCutOff extends Error {}

/**
 * Runs `create` under its time limit. A `create` that never settles (a connection that is never answered, a forgotten
 * await) would otherwise hold a start, every later reload (they run one at a time) and the stop that waits for them.
 * One that finishes after it was given up is closed then, so its sockets and timers do not outlive it unseen.
 */
async function createInTime<C>(def: PluginDefinition<C>, cfg: C, setup: PluginSetup, opts: CreateOptions): Promise<PluginInstance> {
  const ms = def.createTimeout?.(cfg) ?? CREATE_TIMEOUT_MS;
  const creating = Promise.resolve().then(() => def.create(cfg, setup));
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cutOff = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CreateCutOff(`its create() did not finish within ${formatDuration(ms)}`)), ms);
    onAbort = () => reject(new CreateCutOff(`its create() was given up: ${String(opts.signal?.reason ?? 'aborted')}`));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([creating, cutOff]);
  } catch (e) {
    if (e instanceof CreateCutOff) {
      creating.then(
        async (late) => {
          setup.log.warn('plugin create finished after it was given up; its instance is closed', {});
          try { await late.close?.(); } catch (err) { setup.log.warn('plugin close failed', { error: String(err) }); }
        },
        () => undefined,
      );
    }
    throw e;
  } finally {
    clearTimeout(timer);
    if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** A plugin left out of the chain because its resource is missing (`PluginUnavailableError`), with why and its entry's place. */
export interface DisabledPlugin { name: string; reason: string; index: number }

// `key: message` or `key.sub[0]: message`, the way a plugin's create names the option it refuses.
const KEYED = /^([A-Za-z_][\w-]*)((?:\.[\w-]+|\[\d+\])*): ([^]*)$/;

/**
 * Why an entry's plugin could not start, led by its place in the config as `moat check-config` names it
 * (`plugins[0].retry_window: plugin greylist cannot start: must be longer than delay`): the option, when the plugin's
 * message begins with one of its own keys, each part of a `; `-joined list alike.
 */
export function startFailure(index: number, pluginName: string, reason: string, optionKeys: readonly string[]): string {
  const at = `plugins[${index}]`;
  const parts = reason.split('; ');
  const keyed = parts.map((p) => {
    const m = KEYED.exec(p);
    return m && optionKeys.includes(m[1]) ? { path: `${at}.${m[1]}${m[2]}`, text: m[3] } : undefined;
  });
  if (!keyed.every((k) => k)) return `${at}: plugin ${pluginName} cannot start: ${reason}`;
  const [first, ...rest] = keyed as Array<{ path: string; text: string }>;
  return [`${first.path}: plugin ${pluginName} cannot start: ${first.text}`, ...rest.map((k) => `${k.path}: ${k.text}`)].join('; ');
}

async function createEach(entries: EntryLike[], setup: PluginSetup, projectDir: string, out: LoadedPlugin[], disabled: DisabledPlugin[], opts: CreateOptions): Promise<void> {
  const parsed = await parseEntries(entries, projectDir);
  const symbols = listingsOf(parsed);
  const names = entryNames(entries);
  const shared = sharedNameWarnings(entries);
  for (const line of shared) setup.log.warn('plugin entries share a name: a later one goes by it with #2, #3…', { detail: line });
  opts.warnings?.push(...shared);
  for (const [i, entry] of entries.entries()) {
    if (opts.signal?.aborted) throw new CreateCutOff(`plugins were not created: ${String(opts.signal.reason ?? 'aborted')}`);
    const p = parsed[i];
    if ('failed' in p) throw p.failed;
    const { def, cfg, issues } = p;
    if (issues.length) throw new Error(issues.map((x) => `${x.path}: ${x.message}`).join('; '));
    const name = names[i];
    const log = setup.log.child({ plugin: name });
    // What reads the module's findings by the module's name (dmarc reads spf's) does not see an entry named otherwise.
    if (entry.module && entry.name !== def.name) {
      log.warn('plugin entry name differs from the name its module defines: its findings go by the entry\'s name', { entry: entry.name, module_name: def.name, module: entry.module });
      opts.warnings?.push(nameMismatch(i, entry.name, def.name));
    }
    const changed = moduleChangedSinceLoad(entry, projectDir);
    if (changed) {
      log.warn('plugin code changed since it was loaded: the code loaded first runs until a restart', { file: changed });
      opts.warnings?.push(`plugin ${name}: its code changed since it was loaded (${changed}): the code loaded first runs until a restart`);
    }
    // What the plugin warns about while it is created is handed on too, once: a warning repeated is one line.
    const warnings = opts.warnings;
    const recorder = warnings ? recordWarnings(log, (text) => {
      const line = `plugin ${name}: ${text}`;
      if (!warnings.includes(line)) warnings.push(line);
    }) : undefined;
    try {
      const instance = await createInTime(def, cfg, { ...setup, log: recorder?.log ?? log, entryTimeout: entry.timeout, chain: { names, index: i, symbols } }, opts);
      out.push({ name, moduleName: def.name, timeout: entry.timeout, instance });
    } catch (e) {
      const reason = (e as Error).message;
      if (entry.required || !(e instanceof PluginUnavailableError)) {
        const keys = cfg && typeof cfg === 'object' ? Object.keys(cfg) : [];
        throw new Error(startFailure(i, name, reason, keys));
      }
      log.warn('plugin disabled', { reason });
      disabled.push({ name, reason, index: i });
    } finally {
      recorder?.stop();
    }
  }
}

// Errors nobody caught (a plugin's promise rejected with no one awaiting it, a throw from its timer): logged as one
// JSON line with the plugin's name where its stack tells it, counted, and survived where that is safe.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { types } from 'node:util';
import type { Logger } from '../log/types.ts';

export type StrayKind = 'unhandledRejection' | 'uncaughtException';

/**
 * Where a plugin's code lives: built-in ones under `plugins/<name>/`, others in their `module:` file's folder. `dir`
 * is a folder, or with `prefix` the start of a path (`…/node_modules/haraka-plugin-`).
 */
export interface PluginPlace { name: string; dir: string; prefix?: boolean }

/**
 * The places of a chain's entries, for attributing a stack frame to a plugin. The haraka shim's plugins run from
 * outside `plugins/haraka/`: its `dir` folder, Haraka's own plugins and the `haraka-plugin-*` packages, all its.
 */
export function pluginPlaces(entries: ReadonlyArray<{ name: string; module?: string; dir?: unknown }>, projectDir: string, configDir = process.cwd()): PluginPlace[] {
  const places: PluginPlace[] = [{ name: '', dir: path.join(projectDir, 'plugins') }];
  for (const e of entries) {
    if (e.module) places.push({ name: e.name, dir: path.dirname(path.resolve(e.module)) });
    if (e.name !== 'haraka' || e.module) continue;
    if (typeof e.dir === 'string') places.push({ name: e.name, dir: path.resolve(configDir, e.dir) });
    const modules = path.join(projectDir, 'node_modules');
    places.push({ name: e.name, dir: path.join(modules, 'haraka', 'plugins') }, { name: e.name, dir: path.join(modules, 'haraka-plugin-'), prefix: true });
  }
  return places;
}

/** The files a stack names, top frame first (`at f (file:///…/x.ts:1:2)`, `at /…/x.ts:1:2`); Node's own (`node:…`) left out. */
export function stackFiles(stack: string): string[] {
  const files: string[] = [];
  for (const line of stack.split('\n')) {
    const m = /^\s*at (?:.*?\()?((?:file:\/\/)?\/[^():]+?):\d+:\d+\)?\s*$/.exec(line);
    if (!m) continue;
    try { files.push(m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1]); } catch { /* not a path after all */ }
  }
  return files;
}

/** The plugin whose file is nearest the top of the stack, if any frame is in one. */
export function blamePlugin(stack: string, places: readonly PluginPlace[], projectDir: string): string | undefined {
  const builtIn = path.join(projectDir, 'plugins') + path.sep;
  for (const file of stackFiles(stack)) {
    if (file.startsWith(builtIn)) return file.slice(builtIn.length).split(path.sep)[0];
    const own = places.find((p) => p.name && file.startsWith(p.prefix ? p.dir : p.dir + path.sep));
    if (own) return own.name;
  }
  return undefined;
}

/**
 * The stack of an error from any realm: a Haraka plain plugin runs in its own vm context, whose errors fail
 * `instanceof Error` here, and without their stack neither the plugin nor the place is known (a plugin's own throw
 * then stopped the gateway as if it were the core's). An object that is no Error but carries a stack counts too.
 */
export function errorStack(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  try {
    const stack = (error as { stack?: unknown }).stack;
    return typeof stack === 'string' ? stack : '';
  } catch {
    return ''; // a getter that throws
  }
}

/** The message of an error from any realm, else the value as text. */
export function errorMessage(error: unknown): string {
  try {
    if (types.isNativeError(error) || (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string')) {
      return String((error as { message: string }).message);
    }
    return String(error);
  } catch {
    return Object.prototype.toString.call(error); // a value whose toString throws (an object with no prototype)
  }
}

export interface StrayErrorGuard {
  /** Gives the process back Node's own handling (which ends it). */
  remove(): void;
}

/**
 * Takes over what Node does with an error nobody caught (print a raw stack and exit, cutting every session).
 *
 * A rejected promise nobody awaits is logged and counted, and the gateway goes on: no code was interrupted by it (the
 * code that made the promise has already moved on), so nothing was left half done. A throw that reached the event loop
 * did interrupt its callback: when that callback is a plugin's own (a frame of a plugin's files on the stack, none of
 * the core's), the plugin's work is what was cut short, and the gateway goes on as it does when a hook throws. A throw
 * from the core's own code may have left its state (the delivery schedule, a session) half changed, so `onFatal` is
 * called to stop the gateway in order; every message acknowledged with 250 is on disk, and the next start delivers it.
 */
export function guardStrayErrors(opts: {
  log: Logger;
  count: () => void;
  places: () => readonly PluginPlace[];
  projectDir: string;
  onFatal: (error: unknown) => void;
}): StrayErrorGuard {
  const coreDir = path.join(opts.projectDir, 'core') + path.sep;
  const handle = (kind: StrayKind, error: unknown) => {
    // Whatever goes wrong in here must not throw again: a throw from an uncaughtException handler ends the process.
    try {
      opts.count();
      const stack = errorStack(error);
      const plugin = stack ? blamePlugin(stack, opts.places(), opts.projectDir) : undefined;
      const inCore = stackFiles(stack).some((f) => f.startsWith(coreDir));
      const fatal = kind === 'uncaughtException' && (!plugin || inCore);
      const message = kind === 'unhandledRejection' ? 'a promise was rejected and nothing handled it' : 'an exception reached the event loop uncaught';
      opts.log.error(message, {
        kind, ...(plugin ? { plugin } : {}),
        error: errorMessage(error),
        ...(stack ? { stack } : {}),
        consequence: fatal ? 'the gateway stops in order: the code that threw may have left its state half changed' : 'the gateway goes on',
      });
      if (fatal) opts.onFatal(error);
    } catch {
      /* logging failed: nothing better is left to do */
    }
  };
  const onRejection = (reason: unknown) => handle('unhandledRejection', reason);
  const onException = (error: unknown) => handle('uncaughtException', error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    remove() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

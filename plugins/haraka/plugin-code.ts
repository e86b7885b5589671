// A Haraka plugin's code that does not compile or throws while it loads: the error names the plugin and the line, and
// `moat check-config` finds the same syntax errors by compiling each plugin without running it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { requireCjs, type Any } from './cjs.ts';

/**
 * Plain plugins run as one script with this in front (Haraka does the same), so check and start compile the same
 * text. It stays on the first line: line numbers in errors are the file's own.
 */
export const PLAIN_PREFIX = '"use strict";';

/** Node's own arguments of a CommonJS module's function, as its loader compiles a package's file. */
const CJS_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

/** An error from a plugin's code, named by plugin and place; `detail` is the same without the plugin's name. */
export class PluginCodeError extends Error {
  readonly detail: string;
  constructor(name: string, where: string, reason: string) {
    super(`haraka plugin ${name} (${where}): ${reason}`);
    this.name = 'PluginCodeError';
    this.detail = `${where}: ${reason}`;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Where in the plugin's files `err` arose, as `file:line`. A syntax error's stack starts with the place (V8 writes it
 * there, not in the message); another error's first stack frame inside the plugin's file (or package folder) is it.
 * Errors from a plugin's vm context are of another realm, so they are told apart by name, not by class.
 */
export function errorPlace(err: unknown, pluginPath: string, isPackage: boolean): string {
  const stack = String((err as Any)?.stack ?? '');
  const first = /^(.+?):(\d+)\r?\n/.exec(stack);
  if ((err as Any)?.name === 'SyntaxError' && first && !first[1].startsWith('node:')) return `${first[1]}:${first[2]}`;
  const own = isPackage ? path.dirname(pluginPath) + path.sep : pluginPath;
  const frame = new RegExp(`(${escapeRe(own)}${isPackage ? '[^\\s():]+' : ''}):(\\d+)`).exec(stack);
  return frame ? `${frame[1]}:${frame[2]}` : pluginPath;
}

/** `err`, thrown by plugin `name`'s code (in `during`, when not while it loads), as an error naming the plugin and the place. */
export function pluginCodeError(name: string, pluginPath: string, isPackage: boolean, err: unknown, during?: string): PluginCodeError {
  if (err instanceof PluginCodeError) return err; // from a parent plugin that `inherits` compiled: it names itself
  const reason = (err as Any)?.message ?? String(err);
  return new PluginCodeError(name, errorPlace(err, pluginPath, isPackage), during ? `${during} failed: ${reason}` : reason);
}

/** A package's entry file when Node would load it as CommonJS (an ES module is left alone: compiling it needs a run). */
function commonJsEntry(pkgJson: string): string | undefined {
  const entry = requireCjs.resolve(path.dirname(pkgJson));
  if (entry.endsWith('.cjs')) return entry;
  if (!entry.endsWith('.js')) return undefined;
  let type: unknown;
  try { type = JSON.parse(readFileSync(pkgJson, 'utf8')).type; } catch { return undefined; }
  return type === 'module' ? undefined : entry;
}

/**
 * Compiles a plugin's code without running any of it, and throws what the start's compile would (a plain plugin's
 * file as the start compiles it; a package's entry file as Node's loader would, not the files it requires).
 */
export function compileWithoutRunning(name: string, found: string): void {
  const isPackage = path.basename(found) === 'package.json';
  try {
    if (!isPackage) {
      new vm.Script(`${PLAIN_PREFIX}${readFileSync(found, 'utf8')}`, { filename: found });
      return;
    }
    const entry = commonJsEntry(found);
    if (entry) vm.compileFunction(readFileSync(entry, 'utf8').replace(/^#!.*/, ''), CJS_PARAMS, { filename: entry });
  } catch (err) {
    throw pluginCodeError(name, found, isPackage, err);
  }
}

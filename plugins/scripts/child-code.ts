// The sandbox child's own modules as plain JavaScript, for child-loader.mjs.
//
// Node loads its TypeScript stripper (swc compiled to WebAssembly) the first time a process meets a .ts file, and
// keeps it: about 20 MB of private memory in every sandbox child (its WebAssembly memory grows with the files it
// strips), more than all the rest of a loaded child's own, for code that runs once at its start. The gateway has
// that stripper loaded anyway (it runs from .ts itself), so it strips the child's modules once, with the same
// function and mode Node uses, and hands them to each child on its stdin.
import { readFileSync, realpathSync } from 'node:fs';
import nodeModule from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * A relative import or re-export that stays after stripping, at the start of a line (so not in a comment): an
 * `import type` is blanked by the stripping and brings in no module.
 */
const RELATIVE_IMPORT = /^[ \t]*(?:import|export)\b[^;'"`]*?\bfrom\s*(['"])(\.{1,2}\/[^'"\n]+)\1|^[ \t]*import\s*(['"])(\.{1,2}\/[^'"\n]+)\3/gm;

/**
 * The text for a child's stdin, by its entry file: prepared once per gateway process, so a child started after the
 * files changed on disk (an upgrade not yet restarted) still speaks the protocol of the gateway that started it.
 */
const prepared = new Map<string, string>();

/**
 * TypeScript stripped to JavaScript as Node itself strips a .ts module (positions kept, so stacks read the same).
 * Node marks the function experimental with a warning on its first use; the gateway's log has no use for it.
 */
function strip(source: string): string {
  const emitWarning = process.emitWarning;
  process.emitWarning = (() => {}) as typeof process.emitWarning;
  try {
    return nodeModule.stripTypeScriptTypes(source, { mode: 'strip' });
  } finally {
    process.emitWarning = emitWarning;
  }
}

/** Every .ts module `entry` loads through relative imports, stripped, by its file URL as Node resolves it. */
function stripGraph(entry: string): Record<string, string> {
  const modules: Record<string, string> = {};
  const pending = [realpathSync(entry)];
  for (let file = pending.pop(); file; file = pending.pop()) {
    const url = pathToFileURL(file).href;
    if (url in modules) continue;
    const code = strip(readFileSync(file, 'utf8'));
    modules[url] = code;
    for (const m of code.matchAll(RELATIVE_IMPORT)) {
      const specifier = m[2] ?? m[4];
      if (specifier.endsWith('.ts')) pending.push(realpathSync(path.resolve(path.dirname(file), specifier)));
    }
  }
  return modules;
}

/**
 * What the gateway writes to the stdin of a child that runs `entry`: its modules as JSON, or '' when they cannot be
 * prepared (a Node without stripTypeScriptTypes), and the child then loads them the usual way, at the usual cost.
 * `onFailure` hears why, once per entry.
 */
export function childCode(entry: string, onFailure: (reason: string) => void): string {
  let text = prepared.get(entry);
  if (text === undefined) {
    try {
      text = typeof nodeModule.stripTypeScriptTypes === 'function' ? JSON.stringify(stripGraph(entry)) : '';
      if (!text) onFailure('this Node has no module.stripTypeScriptTypes');
    } catch (e) {
      text = '';
      onFailure((e as Error).message);
    }
    prepared.set(entry, text);
  }
  return text;
}

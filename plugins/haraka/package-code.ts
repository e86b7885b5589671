// An npm-package plugin's code (node_modules/haraka-plugin-<name>), loaded through Node's require. Node keeps a module
// once loaded, so a reload would run an edited package's old code: its own files that changed since they were loaded
// are found here, and the package is loaded anew, as a plain plugin is compiled anew on every reload.
//
// Only the package's own files are dropped from require's cache, never its dependencies (its own node_modules) nor
// anything outside its folder: those are shared with other plugins and the shim, and must stay the instances they
// hold. An unedited package is not loaded again: its module state stays what Haraka's would.
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { types } from 'node:util';
import { requireCjs, type Any } from './cjs.ts';

/** What a package's load was checked against: the digest of each own file as loaded, its entry fields, and when. */
interface Loaded {
  digests: Map<string, string>;
  /** package.json's `main`, `exports` and `type` at the first load: Node keeps how it resolved them for the process's life. */
  entryFields: string;
  checkedAt: number;
}

/** By the package folder's real path (the form require's cache uses). */
const loaded = new Map<string, Loaded>();

export interface PackageLoad {
  /** The package's exports. */
  exports: Any;
  /** Its own files that changed since they were loaded, when it was loaded anew for them. */
  reloaded?: string[];
  /** Why an edit still runs the code loaded first, and what to do. */
  warning?: string;
}

function digest(file: string): string | undefined {
  try { return createHash('sha256').update(readFileSync(file)).digest('hex'); } catch { return undefined; }
}

function entryFields(root: string): string {
  try {
    const { main, exports, type } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    return JSON.stringify([main, exports, type]);
  } catch {
    return '';
  }
}

/** The files of require's cache that are the package's own: under its folder, not under its node_modules. */
function ownFiles(root: string): string[] {
  const deps = path.join(root, 'node_modules') + path.sep;
  return Object.keys(requireCjs.cache).filter((f) => f.startsWith(root + path.sep) && !f.startsWith(deps));
}

/**
 * Own files that differ from what was loaded: a digest that changed, or a file gone. A file the package required
 * only after the last check (inside a hook) has no digest; it counts as changed when it was modified since that check.
 */
function changedFiles(root: string, was: Loaded): string[] {
  return ownFiles(root).filter((f) => {
    const known = was.digests.get(f);
    if (known !== undefined) return digest(f) !== known;
    try { return statSync(f).mtimeMs >= was.checkedAt; } catch { return true; }
  });
}

/** An ES module stays in Node's own module map whatever require's cache says: it cannot be loaded anew. */
function isEsModule(file: string): boolean {
  return file.endsWith('.mjs') || types.isModuleNamespaceObject(requireCjs.cache[file]?.exports);
}

/** Requires the package in folder `dir`, anew when its own files changed since they were loaded. */
export function requirePackage(dir: string): PackageLoad {
  const root = realpathSync(dir);
  const checkedAt = Date.now();
  const was = loaded.get(root);
  const changed = was ? changedFiles(root, was) : [];
  const stuck = changed.some(isEsModule);
  if (changed.length && !stuck) for (const f of ownFiles(root)) delete requireCjs.cache[f];
  const exports = requireCjs(dir);
  const warnings: string[] = [];
  if (stuck) {
    // Kept as it was, so every reload says it again until the restart.
    warnings.push(`its code changed since it was loaded (${changed.join(', ')}), and an ES module cannot be loaded again: the code loaded first runs until a restart`);
  } else {
    // What is in the cache now is what the files hold now: loaded just now, or unchanged since the last check.
    const digests = new Map<string, string>();
    for (const f of ownFiles(root)) {
      const d = digest(f);
      if (d !== undefined) digests.set(f, d);
    }
    loaded.set(root, { digests, entryFields: was?.entryFields ?? entryFields(root), checkedAt });
  }
  if (was && entryFields(root) !== was.entryFields) {
    warnings.push('its package.json names another entry point (main, exports or type) than at its first load, and Node keeps the first: restart to load it');
  }
  return { exports, ...(changed.length && !stuck ? { reloaded: changed } : {}), ...(warnings.length ? { warning: warnings.join('; ') } : {}) };
}

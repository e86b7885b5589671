// Whether a Haraka folder can be used: Haraka's config layer reads a missing folder or plugin list as an empty list,
// which the shim's merge with Haraka's own config would turn into Haraka's default plugins (a resolver check on the
// sender, a host list of haraka.local, a forwarder), so a wrong `dir` must stop the start instead.
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { HARAKA_DIR, pinHarakaRoot, requireCjs } from './cjs.ts';

type Found = { stats: Stats } | { missing: true } | { error: string };

function look(p: string): Found {
  try {
    return { stats: statSync(p) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? { missing: true } : { error: (err as Error).message };
  }
}

/** Why `dir` cannot serve as a Haraka folder, or undefined when it can. */
export function folderProblem(dir: string): string | undefined {
  const top = look(dir);
  if ('missing' in top) return `the Haraka folder ${dir} does not exist`;
  if ('error' in top) return `the Haraka folder ${dir} cannot be read: ${top.error}`;
  if (!top.stats.isDirectory()) return `the Haraka folder ${dir} is not a directory`;
  const list = path.join(dir, 'config', 'plugins');
  const inner = look(list);
  if ('missing' in inner) {
    // `haraka -c` takes the folder above config/; naming config/ itself is an easy slip
    const inConfig = path.basename(dir) === 'config' && 'stats' in look(path.join(dir, 'plugins'));
    return inConfig
      ? `${list} does not exist: ${dir} looks like the config folder itself; name the folder that holds it`
      : `${list} does not exist: a Haraka folder names its plugins there, one per line`;
  }
  if ('error' in inner) return `${list} cannot be read: ${inner.error}`;
  if (!inner.stats.isFile()) return `${list} is not a file`;
  try { accessSync(list, constants.R_OK); } catch (err) { return `${list} cannot be read: ${(err as Error).message}`; }
  return undefined;
}

/** The names in a flat Haraka list file: one per line, blank lines and `#`/`;` comments left out (haraka-config's rule). */
export function listNames(text: string): string[] {
  return text.split(/\r\n|\r|\n/).map((l) => l.trim()).filter((l) => l && !/^[;#]/.test(l));
}

/**
 * Whether a plugin that cannot load is skipped (`smtp.ini [main] ignore_bad_plugins`), read as Haraka reads it:
 * through haraka-config, the folder's smtp.ini over Haraka's own. The start and `moat check-config` both ask here, so
 * they cannot disagree about a file (a key given twice, a `[ main ]` header, a `!smtp.ini` in smtp.json).
 */
export function ignoresBadPlugins(dir: string): boolean {
  // haraka-config reads the root when it is first loaded: pinned here as the entry's start pins it.
  pinHarakaRoot(dir);
  const config = requireCjs('haraka-config').module_config(HARAKA_DIR, dir);
  return Boolean(config.get('smtp.ini', { booleans: ['-main.ignore_bad_plugins'] }).main.ignore_bad_plugins);
}

// The structured files (JSON, HJSON, YAML) of a Haraka folder's config/ that haraka-config could not parse. It would
// hand a plugin an empty config for each, silently; the start, a reload and `moat check-config` refuse them instead,
// whether a plugin reads the file while it loads or only later in a hook.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { requireCjs, type Any } from './cjs.ts';

export interface UnparsableFile { file: string; error: string }

/** haraka-config's own type rules and readers, so a file counts as unparsable exactly when it would fail there. */
function harakaConfigLib(name: string): Any {
  return requireCjs(path.join(path.dirname(requireCjs.resolve('haraka-config')), 'lib', name));
}

const STRUCTURED = new Set(['json', 'hjson', 'yaml']);

/** Each structured file under `<dir>/config` (subfolders too) that does not parse, with the parser's message. */
export function unparsableConfigFiles(dir: string): UnparsableFile[] {
  const types = harakaConfigLib('types.js');
  const configDir = path.join(dir, 'config');
  let entries: string[];
  try {
    entries = readdirSync(configDir, { recursive: true, encoding: 'utf8' });
  } catch {
    return []; // no config/ at all: the folder check names that
  }
  const out: UnparsableFile[] = [];
  for (const entry of entries.sort()) {
    const type = types.type_of(entry);
    if (!STRUCTURED.has(type)) continue;
    const file = path.join(configDir, entry);
    try {
      types.reader_for(type).load(file, type);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOENT') continue; // a folder named like a file, or gone meanwhile
      out.push({ file, error: (err as Error).message });
    }
  }
  return out;
}

/** The start's and the check's one wording for them. */
export function unparsableMessage(files: readonly UnparsableFile[]): string {
  return `haraka config cannot be parsed: ${files.map((u) => `${u.file}: ${u.error}`).join('; ')}`;
}

// What a plugin's code was when it was imported, by content: a reload can then say that the code on disk is not the
// code running (Node keeps an imported module for the life of the process), and stops saying so once the file is
// restored, which a modification time (changed by `git checkout` as by an edit) cannot tell.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** A plugin whose folder holds more than this many files it imports is fingerprinted by these first ones. */
const MAX_FILES = 200;

// Static imports and exports, and dynamic imports with a literal path, of a file beside or below this one.
const RELATIVE_IMPORT = /\b(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"\n]+)['"]/g;

/** The hash of each file, by path: the module file and what it imports from its own folder, down the tree. */
export type CodeFingerprint = Map<string, string>;

function contentHash(file: string): string | undefined {
  try { return createHash('sha256').update(readFileSync(file)).digest('hex'); } catch { return undefined; }
}

/**
 * Reads the module file and, following relative imports, the files it loads from its own folder and below; files
 * elsewhere (the core it imports from) are not the plugin's code. A file that cannot be read is left out.
 */
export function fingerprintCode(moduleFile: string): CodeFingerprint {
  const root = path.dirname(moduleFile);
  const out: CodeFingerprint = new Map();
  const todo = [moduleFile];
  while (todo.length && out.size < MAX_FILES) {
    const file = todo.pop()!;
    if (out.has(file)) continue;
    let text: Buffer;
    try { text = readFileSync(file); } catch { continue; }
    out.set(file, createHash('sha256').update(text).digest('hex'));
    for (const m of text.toString('utf8').matchAll(RELATIVE_IMPORT)) {
      const next = path.resolve(path.dirname(file), m[1]);
      if (next.startsWith(root + path.sep) && !out.has(next)) todo.push(next);
    }
  }
  return out;
}

/** The first file of the fingerprint whose content differs now (or that is gone), or undefined when none does. */
export function changedFile(fingerprint: CodeFingerprint): string | undefined {
  for (const [file, hash] of fingerprint) if (contentHash(file) !== hash) return file;
  return undefined;
}

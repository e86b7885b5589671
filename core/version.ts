// Which Mailmoat this is: package.json's version and, run from a git checkout, the commit checked out. An upgrade on the
// same data_dir is told apart from the one before only by this (`moat --version`, the `mailmoat started` line).
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface MailmoatVersion {
  /** package.json's `version`. */
  version: string;
  /** The full hash of the commit checked out; undefined outside a git checkout, or when it cannot be read. */
  commit?: string;
}

let cached: MailmoatVersion | undefined;

/** This installation's version, read once (the files do not change under a running process that matters here). */
export function mailmoatVersion(): MailmoatVersion {
  if (!cached) {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const commit = checkedOutCommit(ROOT);
    cached = commit ? { version, commit } : { version };
  }
  return cached;
}

/** `mailmoat 0.1.0 (commit deced12)`, or `mailmoat 0.1.0` outside a git checkout. */
export function versionLine(v: MailmoatVersion = mailmoatVersion()): string {
  return `mailmoat ${v.version}${v.commit ? ` (commit ${shortCommit(v.commit)})` : ''}`;
}

/** The hash as `git log --oneline` prints it, to compare with what an admin sees there. */
export function shortCommit(commit: string): string {
  return commit.slice(0, 7);
}

const HASH = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * The commit `root`'s checkout has out, from the files git keeps (.git/HEAD, the branch's ref file or packed-refs)
 * rather than by running git: git may be missing, and a process per start or `--version` is not worth it. A `.git`
 * file (a worktree, a submodule) names the folder that holds them. Anything unexpected gives undefined, never an error.
 */
export function checkedOutCommit(root: string): string | undefined {
  try {
    const gitDir = gitDirOf(root);
    if (!gitDir) return undefined;
    const head = readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    if (HASH.test(head)) return head; // a detached HEAD
    const ref = /^ref: (refs\/\S+)$/.exec(head)?.[1];
    if (!ref || ref.split('/').includes('..')) return undefined;
    // A worktree keeps its HEAD but shares the branches of the repository it came from.
    const dirs = [gitDir, commonDirOf(gitDir)].filter((d): d is string => d !== undefined);
    for (const dir of dirs) {
      const loose = readIfThere(path.join(dir, ref))?.trim();
      if (loose !== undefined) return HASH.test(loose) ? loose : undefined;
    }
    for (const dir of dirs) {
      const packed = readIfThere(path.join(dir, 'packed-refs'));
      const line = packed?.split('\n').find((l) => l.endsWith(` ${ref}`));
      const hash = line?.slice(0, line.indexOf(' '));
      if (hash && HASH.test(hash)) return hash;
    }
    return undefined; // a branch with no commit yet
  } catch {
    return undefined;
  }
}

function gitDirOf(root: string): string | undefined {
  const dotGit = path.join(root, '.git');
  const asFile = readIfThere(dotGit);
  if (asFile === undefined) return readIfThere(path.join(dotGit, 'HEAD')) === undefined ? undefined : dotGit;
  const named = /^gitdir: (.+)$/m.exec(asFile)?.[1]?.trim();
  return named ? path.resolve(root, named) : undefined;
}

function commonDirOf(gitDir: string): string | undefined {
  const common = readIfThere(path.join(gitDir, 'commondir'))?.trim();
  return common ? path.resolve(gitDir, common) : undefined;
}

/** The file's text, or undefined when there is no such file (or it is a folder). */
function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

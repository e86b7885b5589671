// Walks data_dir for files and folders its user cannot use: after a restore as root and a `chown` of the top folder
// only, the start fails deep inside (a TLS temp file, a journal segment) and the queue keeps messages it cannot read.
// Only names and modes are looked at (lstat, access), never the contents: a big queue is walked in well under a second.
import { accessSync, constants, lstatSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { accountName } from './data-dir-access.ts';
import { ownerForRoot } from './ownership.ts';

export interface AccessProblem { path: string; why: string }

export interface WalkResult {
  problems: AccessProblem[];
  /** The account the files must belong to: the running one, or, run as root, data_dir's owner. */
  account: string;
  /** Entries looked at. */
  checked: number;
  /** Whether the walk stopped early (maxProblems found, or maxEntries looked at). */
  cut: boolean;
}

export interface WalkLimits { maxProblems?: number; maxEntries?: number }

export function walkDataDir(dataDir: string, limits: WalkLimits = {}): WalkResult {
  const maxProblems = limits.maxProblems ?? 10;
  const maxEntries = limits.maxEntries ?? 500_000;
  const owner = ownerForRoot(statSync(dataDir).uid);
  const account = accountName(owner ?? process.getuid?.() ?? 0);
  const problems: AccessProblem[] = [];
  let checked = 0;
  const full = () => problems.length >= maxProblems || checked >= maxEntries;
  const look = (file: string, isDir: boolean): boolean => {
    checked++;
    if (owner !== undefined) {
      const st = lstatSync(file);
      if (st.uid !== owner) { problems.push({ path: file, why: `owned by ${accountName(st.uid)}, not ${account}` }); return false; }
      // Owned right, but a mode without the owner's rights (a restore that kept mode 000) still shuts the gateway out.
      const needs = isDir ? 0o700 : 0o600;
      if ((st.mode & needs) !== needs) { problems.push({ path: file, why: `mode 0${(st.mode & 0o777).toString(8).padStart(3, '0')}: ${account} may not ${isDir ? 'list or change it' : 'read or write it'}` }); return false; }
      return true;
    }
    try { accessSync(file, isDir ? constants.R_OK | constants.W_OK | constants.X_OK : constants.R_OK | constants.W_OK); } catch (e) {
      problems.push({ path: file, why: `${(e as NodeJS.ErrnoException).code ?? 'error'}: ${account} may not ${isDir ? 'list or change it' : 'read or write it'} (owned by ${accountName(lstatSync(file).uid)})` });
      return false;
    }
    return true;
  };
  const walk = (dir: string): void => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (full()) return;
      const file = path.join(dir, e.name);
      // A symbolic link is followed by nothing the gateway writes; its own owner does not matter.
      if (e.isSymbolicLink()) continue;
      try {
        if (look(file, e.isDirectory()) && e.isDirectory()) walk(file);
      } catch { /* gone meanwhile */ }
    }
  };
  if (look(dataDir, true)) walk(dataDir);
  return { problems, account, checked, cut: full() };
}

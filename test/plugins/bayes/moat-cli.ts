// `moat bayes` through the real entry point, in a child process: what the new bayes tests of session 34 run.
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const MOAT = path.resolve(import.meta.dirname, '../../../scripts/moat.js');

/** Runs `moat bayes ARGS…` to its end: its exit code, stdout and stderr. */
export function moatBayes(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, 'bayes', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

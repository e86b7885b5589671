// Runs the real `moat` CLI in a child process, as an admin runs it from a shell, for the tests of its commands.
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

export interface Ran { code: number; stdout: string; stderr: string }

/**
 * `moat ARGS…` from the temp folder (so no mailmoat.yaml of the checkout is found), with its exit code and output;
 * `input` is written to its standard input, which is closed either way.
 */
export function moat(args: string[], input = ''): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MOAT, ...args], { cwd: os.tmpdir() }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

// `moat bayes` through the real entry point, in a child process: what the new bayes tests of session 34 run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeCorpus } from './fixtures.ts';

const MOAT = path.resolve(import.meta.dirname, '../../../scripts/moat.js');

/** Runs `moat bayes ARGS…` to its end: its exit code, stdout and stderr. */
export function moatBayes(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MOAT, 'bayes', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A temp folder holding a corpus of `n` spam and `n` ham and `dict.tab` made from it, for one describe block. */
export interface CreatedDictionary {
  dir: string;
  dict: string;
  corpus: { spamDir: string; hamDir: string };
  /** A path under the folder. */
  at(...p: string[]): string;
}

/** Registers the hooks that make a CreatedDictionary before the block's tests and remove it after them. */
export function useCreatedDictionary(prefix: string, n: number): CreatedDictionary {
  const bed = {
    dir: '', dict: '', corpus: { spamDir: '', hamDir: '' },
    at: (...p: string[]) => path.join(bed.dir, ...p),
  };
  before(() => {
    bed.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    bed.corpus = writeCorpus(bed.at('corpus'), n);
    bed.dict = bed.at('dict.tab');
    const made = moatBayes('create', bed.dict, bed.corpus.spamDir, bed.corpus.hamDir, '--no-reinforce');
    if (made.code !== 0) throw new Error(`moat bayes create: ${made.err}`);
  });
  after(() => { if (bed.dir) fs.rmSync(bed.dir, { recursive: true, force: true }); });
  return bed;
}

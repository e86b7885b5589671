// Runs `moat greylist …` in this process, capturing what it prints, for the CLI tests.
import { run } from '../../../scripts/cli/greylist.ts';

/** The command's exit code and its stdout and stderr lines, joined. */
export async function moat(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => { out.push(a.join(' ')); };
  console.error = (...a: unknown[]) => { err.push(a.join(' ')); };
  try {
    return { code: await run(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

// Command-line options of the `moat` commands, all read the same way: node:util's parseArgs, strict (an unknown or
// malformed option is an error, not silently ignored), with the command's usage on stderr and exit code 64 (EX_USAGE).
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** Exit code for a command line that cannot be understood (sysexits EX_USAGE). */
export const USAGE_ERROR = 64;

/** The options and positionals of `args`, or undefined (after printing why, and `usage`) when they do not parse. */
export function readCommandLine<O extends ParseArgsOptionsConfig>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return undefined;
  }
}

// Command-line options of the `moat` commands, all read the same way: node:util's parseArgs, strict (an unknown or
// malformed option is an error, not silently ignored), with the command's usage on stderr and exit code 64 (EX_USAGE).
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** Exit code for a command line that cannot be understood (sysexits EX_USAGE). */
export const USAGE_ERROR = 64;

/**
 * The options that choose the config, as `moat start` reads them: every command that reads the config takes both, so
 * it reaches a gateway started with `--set data_dir=…`.
 */
export const CONFIG_OPTIONS = {
  config: { type: 'string', short: 'c' },
  set: { type: 'string', multiple: true },
} as const satisfies ParseArgsOptionsConfig;

/** The options and positionals of `args`, or undefined (after printing why, and `usage`) when they do not parse. */
export function readCommandLine<O extends ParseArgsOptionsConfig>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return undefined;
  }
}

/**
 * readCommandLine for a command that takes -h/--help (every `moat` command, and the scripts): the options and
 * positionals, or the exit code when there is nothing left to do (0 once --help printed `usage` to stdout, 64 for a
 * line that does not parse).
 */
export function readCommand<O extends ParseArgsOptionsConfig>(args: string[], options: O, usage: string) {
  const parsed = readCommandLine(args, { ...options, help: { type: 'boolean', short: 'h' } }, usage);
  if (!parsed) return USAGE_ERROR;
  // parseArgs cannot name the options of a generic O, not even the one added here.
  if ((parsed.values as { help?: boolean }).help) { console.log(usage); return 0; }
  return parsed;
}

/**
 * A file or folder named on the command line, as the file system needs it. Node decodes its arguments as UTF-8, so a
 * name in other bytes (a Latin-1 folder copied from Windows) arrives with U+FFFD in it and would not open. Such an
 * argument is found again, as bytes, in /proc/self/cmdline (Linux): the entry that decodes to it. Anywhere else, or
 * for an argument typed into a test's args, the string is all there is.
 */
export function fileSystemPath(arg: string): string | Buffer {
  if (!arg.includes('\ufffd')) return arg;
  let cmdline: Buffer;
  try { cmdline = readFileSync('/proc/self/cmdline'); } catch { return arg; }
  let found: Buffer | undefined;
  for (let start = 0; start < cmdline.length;) {
    let end = cmdline.indexOf(0, start);
    if (end < 0) end = cmdline.length;
    const entry = cmdline.subarray(start, end);
    // Two different names that decode alike cannot be told apart: then neither is guessed.
    if (entry.toString() === arg) {
      if (found && !found.equals(entry)) return arg;
      found = Buffer.from(entry);
    }
    start = end + 1;
  }
  return found ?? arg;
}

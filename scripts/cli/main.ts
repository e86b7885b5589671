// Dispatches `moat <command> …` to scripts/cli/<command>.ts, each exporting `run(args): Promise<number>`.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { USAGE_ERROR } from './args.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const HIDDEN = new Set(['main', 'args', 'doctor-checks', 'redis-persistence', 'bayes-shared']);

function commands(): string[] {
  return readdirSync(here).filter((f) => f.endsWith('.ts') && !HIDDEN.has(f.slice(0, -3))).map((f) => f.slice(0, -3)).sort();
}

const USAGE = () => `usage: moat <command> [options]

commands: ${commands().join(', ')}
  moat start [--config FILE] [--set KEY=VALUE]…   run the gateway
  moat check-config [--config FILE] [--set K=V]…  validate the config (exit 1 with every error)
  moat reload [--config FILE] [--set K=V]…        have the running gateway reload its config, and say how it went
  moat stop [--config FILE] [--set data_dir=DIR]  have the running gateway stop in order, and wait until it has
  moat check [--config FILE] [--set data_dir=DIR] FILE|- [--from A] [--to B]… [--ip IP] [--helo NAME] [--json]
                                                  score a message through the running chain, keeping nothing
  moat user add|remove|list NAME                  manage AUTH users
  moat lists show|allow|block|remove RECIPIENT …  a recipient's own sender allow and block lists
  moat send --host H:P --from A --to B [--subject S] [--body T] [--attach FILE]
Run 'moat <command> --help' for more.
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd) { process.stderr.write(USAGE()); return USAGE_ERROR; }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') { process.stdout.write(USAGE()); return 0; }
  if (!/^[a-z][a-z0-9-]*$/.test(cmd) || HIDDEN.has(cmd) || !existsSync(path.join(here, `${cmd}.ts`))) {
    process.stderr.write(`moat: unknown command "${cmd}"\n${USAGE()}`);
    return USAGE_ERROR;
  }
  const mod = await import(pathToFileURL(path.join(here, `${cmd}.ts`)).href) as { run(args: string[]): Promise<number> };
  try {
    return await mod.run(rest);
  } catch (e) {
    process.stderr.write(`moat ${cmd}: ${(e as Error).message}\n`);
    return 1;
  }
}

/**
 * What happens once the reader of stdout or stderr goes away (`moat doctor | head -3`): the next write failed with
 * EPIPE, which Node raised as an unhandled error with a stack trace. Now the command runs to its end with its output
 * dropped, since one killed half-way can leave work half done (a Bayes lock left behind); `moat start`, which would
 * run on with no one reading its log, stops in order as on SIGTERM. The process then ends as a C tool ends on a
 * closed pipe, by SIGPIPE: no message, and 141 to a shell.
 */
export function quietWhenOutputCloses(cmd: string | undefined): { finished(): void } {
  let closed = false;
  let done = false;
  const onError = (e: NodeJS.ErrnoException) => {
    // Anything else on the standard streams is no closed reader: it stays the unhandled error it was.
    if (e.code !== 'EPIPE' && !closed) throw e;
    if (closed) return;
    closed = true;
    if (done) endBySigpipe();
    else if (cmd === 'start') process.emit('SIGTERM', 'SIGTERM');
  };
  // Kept for good: writes after the first failure fail too, and must say nothing either.
  process.stdout.on('error', onError);
  process.stderr.on('error', onError);
  return { finished() { done = true; if (closed) endBySigpipe(); } };
}

function endBySigpipe(): never {
  // Node ignores SIGPIPE from its start; the last listener removed puts back the default action, which ends the process.
  const nothing = () => {};
  process.on('SIGPIPE', nothing);
  process.off('SIGPIPE', nothing);
  process.kill(process.pid, 'SIGPIPE');
  process.exit(128 + 13);
}


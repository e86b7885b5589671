// Dispatches `moat <command> …` to scripts/cli/<command>.ts, each exporting `run(args): Promise<number>`.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { USAGE_ERROR } from './args.ts';
import { moveLogToStderr } from '../../core/log/logger.ts';
import { versionLine } from '../../core/version.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const HIDDEN = new Set(['main', 'args', 'doctor-checks', 'doctor-dkim', 'redis-persistence', 'bayes-shared']);

function commands(): string[] {
  return readdirSync(here).filter((f) => f.endsWith('.ts') && !HIDDEN.has(f.slice(0, -3))).map((f) => f.slice(0, -3)).sort();
}

const USAGE = () => `usage: moat <command> [options]

commands: ${[...commands(), 'version'].sort().join(', ')}
  moat start [--config FILE] [--set KEY=VALUE]…   run the gateway
  moat check-config [--config FILE] [--set K=V]…  validate the config (exit 1 with every error)
  moat reload [--config FILE] [--set K=V]…        have the running gateway reload its config, and say how it went
  moat stop [--config FILE] [--set data_dir=DIR]  have the running gateway stop in order, and wait until it has
  moat check [--config FILE] [--set data_dir=DIR] FILE|- [--from A] [--to B]… [--ip IP] [--helo NAME] [--user NAME] [--json]
                                                  score a message through the running chain, keeping nothing;
                                                  --user checks a user's outgoing mail (rules, DKIM)
  moat user add|remove|list NAME                  manage AUTH users
  moat lists show|allow|block|remove RECIPIENT …  a recipient's own sender allow and block lists
  moat send --host H:P --from A --to B [--subject S] [--body T] [--attach FILE]
  moat dkim keygen DOMAIN SELECTOR [--bits 2048] [--type rsa|ed25519] [--out FILE]
                                                  a DKIM key (mode 0600) and the TXT record to publish
  moat dmarc report --now [--config FILE]         have the running gateway queue the pending DMARC aggregate reports
  moat --version (or moat version)                this Mailmoat's version, and its git commit when run from a checkout
Run 'moat <command> --help' for more.
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd) { process.stderr.write(USAGE()); return USAGE_ERROR; }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') { process.stdout.write(USAGE()); return 0; }
  if (cmd === '--version' || cmd === 'version') return printVersion(cmd, rest);
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

/** `moat --version`: what an upgrade changed is told by it, so it must need no config and no running gateway. */
function printVersion(cmd: string, rest: string[]): number {
  if (rest.length === 1 && (rest[0] === '--help' || rest[0] === '-h')) {
    process.stdout.write('usage: moat version (or moat --version)   prints the version, and the git commit when run from a checkout\n');
    return 0;
  }
  if (rest.length) { process.stderr.write(`moat ${cmd} takes no arguments (given: ${rest.join(' ')})\n`); return USAGE_ERROR; }
  process.stdout.write(`${versionLine()}\n`);
  return 0;
}

/**
 * What happens once the reader of stdout or stderr goes away (`moat doctor | head -3`): the next write failed with
 * EPIPE, which Node raised as an unhandled error with a stack trace. Now the command runs to its end with its output
 * dropped, since one killed half-way can leave work half done (a Bayes lock left behind). The process then ends as a
 * C tool ends on a closed pipe, by SIGPIPE: no message, and 141 to a shell.
 *
 * `moat start` is the MX, and a log reader that restarts (svlogd, rotatelogs) must not stop it: once stdout's reader is
 * gone it says so on stderr and logs there from then on. Only with both readers gone, its log going nowhere, does it
 * stop in order as on SIGTERM.
 */
export function quietWhenOutputCloses(cmd: string | undefined): { finished(): void } {
  const gone = new Set<NodeJS.WriteStream>();
  let closed = false;
  let done = false;
  const onError = (stream: NodeJS.WriteStream) => (e: NodeJS.ErrnoException) => {
    // Writes after a stream's first failure fail too, and must say nothing either.
    if (gone.has(stream)) return;
    // Anything else on the standard streams is no closed reader: it stays the unhandled error it was.
    if (e.code !== 'EPIPE' && !closed) throw e;
    gone.add(stream);
    if (closed) return;
    if (cmd === 'start' && gone.size < 2) {
      if (stream === process.stdout) logOnStderr();
      return;
    }
    closed = true;
    if (done) endBySigpipe();
    else if (cmd === 'start') process.emit('SIGTERM', 'SIGTERM');
  };
  // Kept for good, as `gone` is.
  process.stdout.on('error', onError(process.stdout));
  process.stderr.on('error', onError(process.stderr));
  return { finished() { done = true; if (closed) endBySigpipe(); } };
}

/** The gateway's log, whose stdout reader went away, goes on on stderr, after a line there that says why. */
function logOnStderr(): void {
  process.stderr.write('moat start: standard output has no reader any more (EPIPE: the program reading the log exited); '
    + 'the log goes to standard error from now on; restart the gateway to log to standard output again\n');
  moveLogToStderr();
}

function endBySigpipe(): never {
  // Node ignores SIGPIPE from its start; the last listener removed puts back the default action, which ends the process.
  const nothing = () => {};
  process.on('SIGPIPE', nothing);
  process.off('SIGPIPE', nothing);
  process.kill(process.pid, 'SIGPIPE');
  process.exit(128 + 13);
}


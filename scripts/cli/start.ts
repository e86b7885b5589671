// `moat start`: loads the config (file, MAILMOAT_CONFIG or the embedded default), starts the gateway, stops on SIGINT/SIGTERM,
// on `moat stop`, and, when npm started it, once npm is gone; exits at once on SIGQUIT. A start that fails says why on
// stderr and, with JSON logs, in the log.
import { once } from 'node:events';
import { applyOverride, ConfigError, readConfig, type LoadedConfig } from '../../core/config/load.ts';
import { createGateway, type Gateway } from '../../core/gateway.ts';
import { flushLogs, JsonLogger, logStream, type LogFormat } from '../../core/log/logger.ts';
import { readCommand } from './args.ts';
import { chownFix, isAccessError, runningAccount } from '../../core/queue/data-dir-access.ts';
import path from 'node:path';

const USAGE = 'usage: moat start [--config FILE] [--set KEY=VALUE]…\n  Without a config file the gateway listens on 127.0.0.1:2525, accepts mail for localhost and writes it to ./data/delivered/.';

/** How long a stop after an uncaught exception may take before the process exits without finishing it. */
const FATAL_STOP_MS = 60_000;

/** SIGQUIT's exit status, as a shell reports a process that signal ended (128 + 3). */
const QUIT_EXIT_CODE = 131;

/** How long an exit waits for the log's stream to take its last lines (a reader that stopped reading must not hold it). */
const LOG_DRAIN_MS = 2000;

/**
 * How long the process may stay after its orderly stop before it exits anyway. Nothing of the gateway's own is open
 * by then; what still holds the process is a plugin's (a Haraka plugin's setInterval, a Redis client it never quit).
 */
const LEFT_OPEN_GRACE_MS = 1000;

/**
 * Exits once the log's last lines are written. process.exit drops what the log's pipe has not taken yet, and under
 * a slow journal or log shipper those are the lines that say why the process is gone.
 */
async function exitWhenLogged(code: number): Promise<never> {
  flushLogs();
  // stdout, or stderr once stdout's reader went away.
  const out = logStream();
  if (out.writableLength > 0) {
    const drained = once(out, 'drain').catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((r) => { timer = setTimeout(r, LOG_DRAIN_MS); })]);
    clearTimeout(timer);
  }
  process.exit(code);
}

const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'text'];

/**
 * The log format of a start whose config has problems: the file's (with its --set overrides) as far as it was read, else
 * the default, or a `--set log.format` given, for a file that could not be read at all.
 */
function formatOfBrokenConfig(config: unknown, problemAtFormat: boolean, overrides: string[]): LogFormat {
  const fromConfig = problemAtFormat ? undefined : (config as { log?: { format?: unknown } } | undefined)?.log?.format;
  if (LOG_FORMATS.includes(fromConfig as LogFormat)) return fromConfig as LogFormat;
  const raw: Record<string, unknown> = {};
  for (const o of overrides) applyOverride(raw, o);
  const fromSet = (raw.log as { format?: unknown } | undefined)?.format;
  return LOG_FORMATS.includes(fromSet as LogFormat) ? fromSet as LogFormat : 'auto';
}

/**
 * A start that failed also goes in the log, as one line at error level, when the log is JSON: a log shipper or journal
 * alert reading stdout sees why the service is down, not only a human reading stderr. Written after every line the
 * start logged, so it is the last; on a terminal (text) the stderr line says it all.
 */
function logFailedStart(format: LogFormat, error: string): void {
  flushLogs();
  if (format === 'text' || (format === 'auto' && process.stdout.isTTY)) return;
  new JsonLogger({ format: 'json', sink: process.stdout }).error('start failed', { error });
}

/** `Timeout ×2, TCPSocketWrap ×1`: the kinds of what keeps the process up, as Node names them. */
function describeOpen(kinds: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ×${n}`).join(', ');
}

/** Node's names for the handle of a process stream (stdout to a pipe is a PipeWrap in the list of what is open). */
const STREAM_KINDS: Readonly<Record<string, string>> = { Pipe: 'PipeWrap', TTY: 'TTYWrap', TCP: 'TCPSocketWrap' };
/** Node's names for a write waiting on a stream. */
const WRITE_KINDS: ReadonlySet<string> = new Set(['WriteWrap', 'SimpleWriteWrap', 'ShutdownWrap']);

/**
 * What is open now that is not the process's own output: stdout and stderr carry the log and are no plugin's, nor
 * are the writes still queued on the log's stream (when it has some, no write is told apart from its).
 */
function openBesidesLog(): string[] {
  const open = process.getActiveResourcesInfo();
  for (const out of [process.stdout, process.stderr]) {
    const kind = STREAM_KINDS[(out as { _handle?: object })._handle?.constructor.name ?? ''];
    const at = kind ? open.indexOf(kind) : -1;
    if (at >= 0) open.splice(at, 1);
  }
  return logStream().writableLength > 0 ? open.filter((k) => !WRITE_KINDS.has(k)) : open;
}

/**
 * Resolves once the log's stream has taken every line. A slow reader is waited for as long as it keeps taking lines;
 * one that took nothing for LOG_DRAIN_MS (stopped reading) is waited for no longer.
 */
async function logDrained(): Promise<void> {
  flushLogs();
  let left = Infinity;
  for (let out = logStream(); out.writableLength > 0 && out.writableLength < left; out = logStream()) {
    left = out.writableLength;
    let timer: NodeJS.Timeout | undefined;
    // Unref'd: the wait itself must not keep the process up once the stream is done.
    await Promise.race([once(out, 'drain').catch(() => undefined), new Promise((r) => { timer = setTimeout(r, LOG_DRAIN_MS).unref(); })]);
    clearTimeout(timer);
  }
}

/**
 * Ends the process once the stop is over, even when something a plugin left (a timer, a socket) would keep it up:
 * the process stays only when nothing else holds it (the timer is unref'd), so a clean stop still exits by itself.
 * Haraka does the same: it always exits after its shutdown. The grace begins once the log's last lines are written:
 * a slow log reader holds the process with its pending write, and is neither a plugin's fault nor a reason to exit
 * before they are out.
 */
function exitEvenIfHeld(code: number, log: { warn(msg: string, fields?: Record<string, unknown>): void }): void {
  void logDrained().then(() => {
    setTimeout(() => {
      const open = openBesidesLog();
      if (open.length) log.warn('exiting: something a plugin opened was still open after the stop', { open: describeOpen(open) });
      void exitWhenLogged(code);
    }, LEFT_OPEN_GRACE_MS).unref();
  });
}

/** How often a gateway that npm started looks whether npm is still there. */
const PARENT_CHECK_MS = 1000;

/**
 * Started by npm (`npm start`, `npx moat start`), the gateway runs under `npm` → `sh -c` → node: a SIGTERM to npm
 * ends npm and the shell, which do not pass it on, and the gateway ran on, orphaned, still holding its port and
 * data_dir. It notices by its parent pid changing (to 1, or to a subreaper), and calls `onGone`. Not without npm: a
 * service manager or a shell that runs node itself stops it by signal, and a daemon's parent may change on purpose.
 */
function watchNpmParent(onGone: () => void): () => void {
  if (!process.env.npm_command && !process.env.npm_lifecycle_event) return () => undefined;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, PARENT_CHECK_MS);
  // The listeners keep the process alive; this only watches.
  timer.unref();
  return () => clearInterval(timer);
}

/** A port only root, or a process with CAP_NET_BIND_SERVICE, may bind (net.ipv4.ip_unprivileged_port_start). */
const PRIVILEGED_BELOW = 1024;

/**
 * A start that failed on permissions, with what to do: the error alone (`EACCES: permission denied, lstat
 * '…/tls/self-signed.key.tmp'`) names neither a restore that left root's files behind nor the missing capability.
 */
export function explainStartError(e: unknown, dataDir: string): unknown {
  if (!(e instanceof Error)) return e;
  const listen = /^cannot listen on \S*:(\d+) .*EACCES/.exec(e.message);
  if (listen && Number(listen[1]) < PRIVILEGED_BELOW) {
    return new Error(`${e.message}: only root or a process with CAP_NET_BIND_SERVICE may listen on a port below ${PRIVILEGED_BELOW}; `
      + 'grant it with AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit, or `setcap cap_net_bind_service=+ep` on the node binary');
  }
  const file = (e as NodeJS.ErrnoException).path;
  const inside = file !== undefined && !path.relative(path.resolve(dataDir), path.resolve(file)).startsWith('..');
  if (isAccessError(e) && inside) {
    return new Error(`${e.message}: data_dir ${dataDir} holds files this user (${runningAccount()}) cannot use (restored or copied as another user?); `
      + `run \`${chownFix(dataDir)}\` (moat doctor lists them)`);
  }
  return e;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, { config: { type: 'string', short: 'c' }, set: { type: 'string', multiple: true } }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const overrides = values.set ?? [];
  const reading = await readConfig({ file: values.config, overrides });
  if (reading.issues.length || !reading.config) {
    const e = new ConfigError(reading.issues, reading.file);
    process.stderr.write(`${e.message}\n`);
    const problemAtFormat = reading.issues.some((i) => i.path === 'log' || i.path === 'log.format');
    logFailedStart(formatOfBrokenConfig(reading.config, problemAtFormat, overrides), e.message);
    return 1;
  }
  const loaded: LoadedConfig = { config: reading.config, file: reading.file, baseDir: reading.baseDir };
  try {
    return await runGateway(loaded, overrides);
  } catch (e) {
    const message = String((explainStartError(e, loaded.config.data_dir) as Error)?.message ?? e);
    process.stderr.write(`moat start: ${message}\n`);
    logFailedStart(loaded.config.log.format, message);
    return 1;
  }
}

async function runGateway(loaded: LoadedConfig, overrides: string[]): Promise<number> {
  // Listened for from the start: a SIGTERM while the gateway starts (plugins loading, the queue recovering) would
  // otherwise end the process at once, in the middle of its first deliveries; it stops the gateway once started instead.
  let stopRequested!: () => void;
  const stopSignal = new Promise<void>((resolve) => { stopRequested = resolve; });
  // For the `stopping` line; a signal's name is noted by the gateway itself.
  let stopReason: string | undefined;
  // Kept through the whole stop: one that came again would otherwise end the process at once, mid-delivery, with its
  // last log lines unwritten (the gateway logs it instead); given back once the stop is over and the log written.
  const stop = (reason?: string) => {
    stopReason ??= reason;
    unwatchParent();
    stopRequested();
  };
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const releaseSignals = () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); };
  const unwatchParent = watchNpmParent(() => stop('parent exited'));
  // An exception from the gateway's own code that nothing caught: the gateway stops in order and exits 1, so a service
  // manager (systemd's Restart=on-failure) starts it again on a clean state; the queue on disk carries every message over.
  let fatal = false;
  const onFatalError = () => {
    if (fatal) return;
    fatal = true;
    // A stop that cannot finish after such an error must not keep a half-working gateway up.
    setTimeout(() => void exitWhenLogged(1), FATAL_STOP_MS).unref();
    stop();
  };
  // Files the gateway writes (queued, quarantined and delivered mail, the state store, dictionaries it flushes) are its
  // own, as Postfix's daemons run under umask 077: data_dir's 0700 keeps other local users out, and this keeps them
  // out of a file that is copied or moved elsewhere, or of a data_dir someone opened up.
  process.umask(0o077);
  let gw: Gateway;
  try {
    gw = await createGateway({
      config: loaded.config, configFile: loaded.file, configOverrides: overrides, configDir: loaded.baseDir, handleSignals: true, captureConsole: true, onFatalError,
      onStopRequest: () => stop('moat stop'),
      // Not a count of SIGTERMs: how many copies come depends on what runs the gateway (runuser, su, npm), not on
      // how urgent the stop is. SIGQUIT (Ctrl-\) is a distinct ask, and an exit is safe: the queue is on disk.
      onQuitSignal: () => void exitWhenLogged(QUIT_EXIT_CODE),
    });
  } catch (e) {
    releaseSignals();
    unwatchParent();
    throw e;
  }
  await stopSignal;
  await gw.stop(stopReason);
  // Written while the process still runs, which waits for the write: an exit with lines in the pipe's queue drops them.
  flushLogs();
  releaseSignals();
  const code = fatal ? 1 : 0;
  exitEvenIfHeld(code, gw.runtime.log);
  return code;
}

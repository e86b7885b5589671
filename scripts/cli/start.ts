// `moat start`: loads the config (file, MAILMOAT_CONFIG or the embedded default), starts the gateway, stops on SIGINT/SIGTERM,
// on `moat stop`, and, when npm started it, once npm is gone.
import { loadConfig, ConfigError } from '../../core/config/load.ts';
import { createGateway } from '../../core/gateway.ts';
import { readCommand } from './args.ts';
import { chownFix, isAccessError, runningAccount } from '../../core/queue/data-dir-access.ts';
import path from 'node:path';

const USAGE = 'usage: moat start [--config FILE] [--set KEY=VALUE]…\n  Without a config file the gateway listens on 127.0.0.1:2525, accepts mail for localhost and writes it to ./data/delivered/.';

/** How long a stop after an uncaught exception may take before the process exits without finishing it. */
const FATAL_STOP_MS = 60_000;

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
  let loaded;
  try {
    loaded = await loadConfig({ file: values.config, overrides });
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`${e.message}\n`); return 1; }
    throw e;
  }
  // Listened for from the start: a SIGTERM while the gateway starts (plugins loading, the queue recovering) would
  // otherwise end the process at once, in the middle of its first deliveries; it stops the gateway once started instead.
  let stopRequested!: () => void;
  const stopSignal = new Promise<void>((resolve) => { stopRequested = resolve; });
  // For the `stopping` line; a signal's name is noted by the gateway itself.
  let stopReason: string | undefined;
  const stop = (reason?: string) => {
    stopReason ??= reason;
    process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal);
    unwatchParent();
    stopRequested();
  };
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const unwatchParent = watchNpmParent(() => stop('parent exited'));
  // An exception from the gateway's own code that nothing caught: the gateway stops in order and exits 1, so a service
  // manager (systemd's Restart=on-failure) starts it again on a clean state; the queue on disk carries every message over.
  let fatal = false;
  const onFatalError = () => {
    if (fatal) return;
    fatal = true;
    // A stop that cannot finish after such an error must not keep a half-working gateway up.
    setTimeout(() => process.exit(1), FATAL_STOP_MS).unref();
    stop();
  };
  // Files the gateway writes (queued, quarantined and delivered mail, the state store, dictionaries it flushes) are its
  // own, as Postfix's daemons run under umask 077: data_dir's 0700 keeps other local users out, and this keeps them
  // out of a file that is copied or moved elsewhere, or of a data_dir someone opened up.
  process.umask(0o077);
  let gw;
  try {
    gw = await createGateway({
      config: loaded.config, configFile: loaded.file, configOverrides: overrides, configDir: loaded.baseDir, handleSignals: true, captureConsole: true, onFatalError,
      onStopRequest: () => stop('moat stop'),
    });
  } catch (e) {
    process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal);
    unwatchParent();
    throw explainStartError(e, loaded.config.data_dir);
  }
  await stopSignal;
  await gw.stop(stopReason);
  return fatal ? 1 : 0;
}

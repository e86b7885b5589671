// `moat stop`: asks the running gateway, through its control socket, to stop in order as on SIGTERM, and waits until
// its process has exited: exit 0 stopped, 1 it could not be asked or did not stop in time, 2 no gateway.
// For a gateway whose signals do not reach it (started by npm, whose SIGTERM ends npm but not the gateway) or whose
// pid is not at hand.
import { NoGatewayError, controlRequest, requestStop } from '../../core/control/client.ts';
import { holderState, lockPath, readHolder, type LockHolder } from '../../core/control/queue-lock.ts';
import { CONFIG_OPTIONS, readCommand } from './args.ts';
import { gatewaySocket } from './reload.ts';

const USAGE = `usage: moat stop [--config FILE] [--set data_dir=DIR]
  Asks the gateway running on the config's data_dir to stop in order, as SIGTERM does (sessions finish or get 421,
  deliveries under way get their grace), and waits until its process has exited. --config and --set only find the
  gateway. Exit 0 stopped, 1 not asked or not stopped in time (its log tells why), 2 no gateway.`;

/** Exit code when no gateway answers on the data_dir, as `moat reload` has it (and gatewaySocket returns). */
const NO_GATEWAY = 2;

/**
 * How long the stop may take: a message still arriving gets 20 s, one whose final dot arrived is answered within
 * 50 s, and the plugins, relay and state store close after that.
 */
const STOP_WAIT_MS = 120_000;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether the gateway still answers on `sock`: a stopping one that no longer takes requests is still there. */
async function answers(sock: string): Promise<boolean> {
  try {
    await controlRequest(sock, { op: 'ping' }, 2000);
    return true;
  } catch (e) {
    return !(e instanceof NoGatewayError);
  }
}

/**
 * The socket goes away part-way through a stop (the plugins, relay and store close after it): done once the process
 * that held the data_dir has exited as well, a zombie or a later process with its pid counted as exited.
 */
async function waitForExit(sock: string, holder: LockHolder | undefined, dataDir: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    // With the folder: a lock copied from a gateway running elsewhere names a process that is not this one.
    if (!await answers(sock) && (!holder || holderState(holder, dataDir) === 'dead')) return true;
    if (Date.now() > until) return false;
    await sleep(POLL_MS);
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, CONFIG_OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const found = await gatewaySocket('stop', values, { unfound: 'Name the data_dir with --set data_dir=DIR.', noSocket: 'stop it with SIGTERM (systemctl stop)' });
  if (typeof found === 'number') return found;
  const { sock } = found;
  // Read before the stop, which releases the lock: its pid and start time tell when that very process has exited.
  const lockHolder = readHolder(lockPath(found.dataDir));
  const holder = lockHolder?.role === 'gateway' ? lockHolder : undefined;
  const who = holder ? `the gateway (pid ${holder.pid})` : 'the gateway';
  try {
    await requestStop(sock);
  } catch (e) {
    if (e instanceof NoGatewayError) {
      process.stderr.write(`moat stop: no gateway is running on ${found.dataDir} (nothing answers on ${sock}); nothing was stopped\n`);
      return NO_GATEWAY;
    }
    if (/^unknown op/.test((e as Error).message)) {
      process.stderr.write('moat stop: the running gateway was started before moat stop existed; stop it with SIGTERM (systemctl stop)\n');
      return 1;
    }
    process.stderr.write(`moat stop: ${(e as Error).message}\n`);
    return 1;
  }
  if (!await waitForExit(sock, holder, found.dataDir, STOP_WAIT_MS)) {
    process.stderr.write(`moat stop: ${who} on ${found.dataDir} was asked to stop and is still running after ${STOP_WAIT_MS / 1000} s; its log tells what it waits for\n`);
    return 1;
  }
  process.stdout.write(`stopped ${who} on ${found.dataDir}\n`);
  return 0;
}

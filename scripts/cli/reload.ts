// `moat reload`: asks the running gateway, through its control socket, to reload its config file, and prints the
// outcome, which a SIGHUP leaves in the log only: exit 0 reloaded, 1 refused (the running config kept), 2 no gateway.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { applyOverride, readConfig } from '../../core/config/load.ts';
import { validate } from '../../core/config/schema.ts';
import { gatewaySchema } from '../../core/config/gateway-schema.ts';
import { NoGatewayError, requestConfigReload } from '../../core/control/client.ts';
import { SOCKET_PATH_MAX, socketPath, type ReloadReport } from '../../core/control/protocol.ts';
import { CONFIG_OPTIONS, readCommand } from './args.ts';

const USAGE = `usage: moat reload [--config FILE] [--set KEY=VALUE]…
  Asks the gateway running on the config's data_dir to reload its config file, and prints what it applied or why it
  refused it. --config and --set only find the gateway (as moat start was given them): it reads the file it was
  started with, with the --set of its start. Exit 0 reloaded, 1 refused (the running config is kept), 2 no gateway.`;

/** Exit code when no gateway answers on the data_dir: nothing was reloaded, and nothing was judged either. */
const NO_GATEWAY = 2;

/** Where a data_dir was found: `guessed` when the file does not parse, so a gateway may or may not run there. */
interface FoundDataDir { dataDir?: string; configFile?: string; problem?: string; guessed?: boolean }

/**
 * The data_dir the gateway was started with, found as `moat start` finds it. A file the admin has just broken must
 * still lead to the gateway, which then says why it refuses it: schema errors elsewhere do not matter here, and a
 * file that is no YAML at all still has the --set data_dir=DIR of the command line. With `guess`, a file that does
 * not parse leads to the data_dir it names where its YAML still reads, else to the default one beside it.
 */
async function findDataDir(file: string | undefined, overrides: string[], guess = false): Promise<FoundDataDir> {
  const reading = await readConfig({ file, overrides });
  if (reading.config && typeof reading.config.data_dir === 'string' && reading.config.data_dir) {
    return { dataDir: reading.config.data_dir, configFile: reading.file };
  }
  const raw: Record<string, unknown> = {};
  for (const o of overrides) applyOverride(raw, o);
  if (typeof raw.data_dir === 'string' && raw.data_dir) return { dataDir: path.resolve(reading.baseDir, raw.data_dir), configFile: reading.file };
  const why = reading.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
  const problem = `${reading.file ?? 'the config'}: ${why}`;
  if (!guess || !reading.file) return { problem };
  return { dataDir: path.resolve(reading.baseDir, dataDirOfBroken(reading.file)), configFile: reading.file, problem, guessed: true };
}

/**
 * The data_dir a file that does not parse as a whole names, as far as its YAML reads (the parser keeps what it could
 * make of it), else the default one: what a gateway started from the file before it broke most likely runs on.
 */
function dataDirOfBroken(file: string): string {
  try {
    const named = parseDocument(readFileSync(file, 'utf8')).get('data_dir');
    if (typeof named === 'string' && named.trim()) return named.trim();
  } catch { /* unreadable here: the default is all there is to go on */ }
  return validate(gatewaySchema, {}).value.data_dir;
}

type Reloaded = Extract<ReloadReport, { reloaded: true }>;

function printReloaded(r: Reloaded): void {
  const lines = [`reloaded ${r.file ?? '(the embedded default config)'}`];
  lines.push(r.changed.length
    ? `  changed: ${r.changed.join(', ')}`
    : r.certificate ? '  changed: no config key; the TLS certificate files hold another certificate'
    : `  changed: ${r.restartOnly.length ? 'nothing that applies now' : 'nothing'} (the plugins were started anew and the TLS certificate read again)`);
  const c = r.certificate;
  if (c) lines.push(`  certificate: now serving ${c.cn === undefined ? 'a certificate without CN' : `CN=${c.cn}`}, SHA-256 ${c.sha256}, not after ${c.notAfter}`);
  lines.push(`  plugins: ${r.plugins.length ? r.plugins.join(', ') : '(none)'}`);
  for (const d of r.disabled ?? []) lines.push(`  disabled: ${d.name}: ${d.reason}`);
  for (const w of r.warnings ?? []) lines.push(`  warning: ${w}`);
  if (r.restartOnly.length) lines.push(`  kept until restart: ${r.restartOnly.join(', ')} (a reload does not change them; restart the gateway to apply them)`);
  process.stdout.write(lines.join('\n') + '\n');
}

function printRefused(r: Extract<ReloadReport, { reloaded: false }>): void {
  const lines = [`refused: ${r.file ?? 'the config'} was not applied; the gateway keeps its running config`];
  for (const e of r.errors) lines.push(`  ${e}`);
  process.stderr.write(lines.join('\n') + '\n');
}

/**
 * The data_dir and control socket of the gateway that `--config` and `--set` lead to, for `moat <cmd>` (reload, stop);
 * or, once it said why there is none, the exit code: 1 when the data_dir cannot be told, 2 (no gateway) when its path
 * is too long for a socket. `unfound` and `noSocket` advise what to do instead.
 */
export async function gatewaySocket(
  cmd: string, values: { config?: string; set?: string[] }, advice: { unfound: string; noSocket: string }, guess = false,
): Promise<{ dataDir: string; sock: string; configFile?: string; guessed?: { problem: string } } | number> {
  const found = await findDataDir(values.config, values.set ?? [], guess);
  if (!found.dataDir) {
    process.stderr.write(`moat ${cmd}: cannot tell which data_dir the gateway runs on, so it was not asked: ${found.problem}\n  ${advice.unfound}\n`);
    return 1;
  }
  const sock = socketPath(found.dataDir);
  if (Buffer.byteLength(sock) > SOCKET_PATH_MAX) {
    process.stderr.write(`moat ${cmd}: the data_dir path ${found.dataDir} is too long for a control socket, so a gateway there has none; ${advice.noSocket}\n`);
    return NO_GATEWAY;
  }
  return { dataDir: found.dataDir, sock, configFile: found.configFile, ...(found.guessed ? { guessed: { problem: found.problem! } } : {}) };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, CONFIG_OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const unfound = 'A gateway would refuse this file as well. Fix it, or name the data_dir with --set data_dir=DIR to have the gateway report.';
  // A file that does not parse still goes to the gateway it most likely belongs to, which refuses it itself: its log
  // says so and config_last_reload_success drops to 0, which an alert watches, as a SIGHUP's refused reload does.
  const found = await gatewaySocket('reload', values, { unfound, noSocket: 'reload it with SIGHUP (systemctl reload) and read its log' }, true);
  if (typeof found === 'number') return found;
  const { sock } = found;
  let report: ReloadReport;
  try {
    report = await requestConfigReload(sock);
  } catch (e) {
    if (e instanceof NoGatewayError && found.guessed) {
      process.stderr.write(`moat reload: cannot tell which data_dir the gateway runs on, so it was not asked: ${found.guessed.problem}\n  No gateway runs on ${found.dataDir}, the data_dir the file seems to name. ${unfound}\n`);
      return 1;
    }
    if (e instanceof NoGatewayError) {
      // data_dir is restart-only: a file whose data_dir was just changed names a folder the running gateway never used.
      process.stderr.write(`moat reload: no gateway is running on ${found.dataDir} (nothing answers on ${sock}); nothing was reloaded. If the file's data_dir was changed since the start, name the running one: --set data_dir=DIR\n`);
      return NO_GATEWAY;
    }
    if (/^unknown op/.test((e as Error).message)) {
      process.stderr.write('moat reload: the running gateway was started before moat reload existed; reload it with SIGHUP (systemctl reload) and read its log\n');
      return 1;
    }
    process.stderr.write(`moat reload: ${(e as Error).message}\n`);
    return 1;
  }
  if (!report.reloaded) { printRefused(report); return 1; }
  printReloaded(report);
  // Reached through a data_dir the broken file only seemed to name: the gateway there runs from a file that parses.
  if (found.guessed) process.stderr.write(`moat reload: note: ${found.guessed.problem}; the gateway on ${found.dataDir}, the data_dir it seems to name, was asked\n`);
  // The gateway reads its own file and start: a --set here only found it, which looked as if it had been applied.
  const setKeys = (values.set ?? []).map((o) => o.slice(0, Math.max(0, o.indexOf('=')))).filter((k) => k && k !== 'data_dir');
  if (setKeys.length) {
    process.stderr.write(`moat reload: note: --set ${setKeys.join(', ')} was not applied: --set here only finds the gateway, which reloads its file with the --set of its start; edit the file, or restart with the new --set\n`);
  }
  // --config names the gateway's data_dir here; it does not switch the gateway to another file.
  if (found.configFile && report.file && path.resolve(found.configFile) !== path.resolve(report.file)) {
    process.stderr.write(`moat reload: note: the gateway reloaded ${report.file}, the file it was started with, not ${found.configFile}; another file takes a restart\n`);
  }
  return 0;
}

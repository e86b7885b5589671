// `moat doctor`: runs a list of health checks against the configured gateway and prints one line per finding.
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_OPTIONS, readCommand } from './args.ts';
import type { LoadedConfig } from '../../core/config/load.ts';
import { createClamdClient } from '../../plugins/clamav/scanner.ts';
import { CommandScanner, commandLine } from '../../plugins/clamav/command-scanner.ts';
import type { ClamavConfig } from '../../plugins/clamav/config.ts';
import { checkConfig } from './check-config.ts';
import { configuredScanners } from './clamav.ts';
import { dataDirCheck, dnsCheck, smarthostCheck, stateStoreCheck } from './doctor-checks.ts';
import { dkimCheck } from './doctor-dkim.ts';

/** `note`: something the check could not find out, which an admin should look at; neither a warning nor a failure. */
export type CheckStatus = 'ok' | 'note' | 'warn' | 'fail';

export interface CheckLine {
  status: CheckStatus;
  text: string;
}

/** One health check; add new ones to `CHECKS`. A check reports any number of lines and never throws. */
export interface DoctorCheck {
  name: string;
  run(loaded: LoadedConfig): Promise<CheckLine[]>;
}

/** Signatures older than this are reported: freshclam has probably stopped. */
const STALE_SIGNATURE_DAYS = 3;

/** The program of a command line as execFile finds it: a path (from the current folder), or the first match on PATH. */
function findProgram(program: string): string | undefined {
  const candidates = program.includes('/') ? [path.resolve(program)]
    : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, program));
  return candidates.find((file) => {
    try { fs.accessSync(file, fs.constants.X_OK); return fs.statSync(file).isFile(); } catch { return false; }
  });
}

/** Runs the command-line scanner on harmless text, as a message would be scanned: its verdict must be "clean". */
async function commandScannerLine(where: string, options: ClamavConfig): Promise<CheckLine> {
  const meanwhile = options.on_error === 'tempfail' ? 'every message is deferred with 451' : 'every message passes unscanned with a warning header';
  const template = options.command!.template;
  const [program] = commandLine(template, '{file}');
  const found = findProgram(program);
  if (!found) return { status: 'fail', text: `${where}: command-line scanner ${program} is not an executable file${program.includes('/') ? '' : ' on PATH'} (${meanwhile})` };
  const t0 = performance.now();
  try {
    const result = await new CommandScanner(options.command!, options.scan_timeout).scanBuffer(Buffer.from('A harmless line of text from moat doctor.\n'));
    const ms = Math.round(performance.now() - t0);
    if (result.infected) return { status: 'fail', text: `${where}: command-line scanner ${found} calls harmless text infected (${result.viruses.join(', ')}): check infected_exit_codes and clean_exit_codes` };
    return { status: 'ok', text: `${where}: command-line scanner ${found} answers clean in ${ms} ms (test it on a virus with \`moat clamav test\`)` };
  } catch (err) {
    return { status: 'fail', text: `${where}: command-line scanner ${found}: ${(err as Error).message} (${meanwhile})` };
  }
}

const clamdCheck: DoctorCheck = {
  name: 'clamd',
  async run(loaded) {
    const entries = configuredScanners(loaded);
    if (!entries.length) return [{ status: 'ok', text: 'no clamav plugin configured' }];
    const lines: CheckLine[] = [];
    for (const { index, options, baseDir } of entries) {
      const where = `plugins[${index}]`;
      if (options.scanner === 'command') { lines.push(await commandScannerLine(where, options)); continue; }
      const client = createClamdClient(options, baseDir);
      try {
        const t0 = performance.now();
        const pong = await client.ping();
        const ms = Math.round(performance.now() - t0);
        if (!pong) { lines.push({ status: 'fail', text: `${where}: clamd at ${client.address} gave an unexpected answer to PING` }); continue; }
        const v = await client.version();
        const sigs = v.signatures === undefined ? 'no official signature database' : `signatures ${v.signatures} of ${v.signatureDate}`;
        lines.push({ status: 'ok', text: `${where}: clamd at ${client.address} answers in ${ms} ms: ${v.engine}, ${sigs}` });
        const age = v.signatureDate ? (Date.now() - Date.parse(v.signatureDate)) / 86_400_000 : undefined;
        if (age !== undefined && age > STALE_SIGNATURE_DAYS) {
          lines.push({ status: 'warn', text: `${where}: the signatures are ${Math.floor(age)} days old; is freshclam running?` });
        }
      } catch (err) {
        const meanwhile = options.on_error === 'tempfail' ? 'mail is deferred with 451 until it does' : 'mail passes unscanned with a warning header';
        lines.push({ status: 'fail', text: `${where}: no answer: ${(err as Error).message} (${meanwhile})` });
      }
    }
    return lines;
  },
};

export const CHECKS: DoctorCheck[] = [dataDirCheck, stateStoreCheck, dnsCheck, smarthostCheck, clamdCheck, dkimCheck];

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', note: 'note', warn: 'WARN', fail: 'FAIL' };

const USAGE = 'usage: moat doctor [--config FILE] [--set KEY=VALUE]…   checks the config as check-config does, data_dir and the services it names (state store, DNS, smarthosts, virus scanner, the DKIM keys published in DNS)';

export async function run(args: string[]): Promise<number> {
  const parsed = readCommand(args, CONFIG_OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const checked = await checkConfig({ file: values.config, overrides: values.set ?? [] });
  const where = checked.file ?? 'built-in defaults (no config file)';
  for (const w of checked.warnings) console.log(`WARN config: ${w}`);
  // Each problem check-config names; the services are still checked when the config itself could be read.
  for (const i of checked.issues) console.log(`FAIL config: ${where}: ${i.path || '(root)'}: ${i.message}`);
  const loaded = checked.loaded;
  if (!loaded) return 1;
  if (!checked.issues.length) console.log(`ok   config: ${where}`);
  let failed = false;
  for (const check of CHECKS) {
    let lines: CheckLine[];
    try { lines = await check.run(loaded); } catch (err) { lines = [{ status: 'fail', text: `check crashed: ${(err as Error).message}` }]; }
    for (const l of lines) {
      console.log(`${MARK[l.status]} ${check.name}: ${l.text}`);
      if (l.status === 'fail') failed = true;
    }
  }
  return failed || checked.issues.length ? 1 : 0;
}

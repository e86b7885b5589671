// `moat doctor`: runs a list of health checks against the configured gateway and prints one line per finding.
import { readCommand } from './args.ts';
import { loadConfig, type LoadedConfig } from '../../core/config/load.ts';
import { createClamdClient } from '../../plugins/clamav/scanner.ts';
import { configuredScanners } from './clamav.ts';
import { dataDirCheck, dnsCheck, smarthostCheck, stateStoreCheck } from './doctor-checks.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

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

const clamdCheck: DoctorCheck = {
  name: 'clamd',
  async run(loaded) {
    const entries = configuredScanners(loaded);
    if (!entries.length) return [{ status: 'ok', text: 'no clamav plugin configured' }];
    const lines: CheckLine[] = [];
    for (const { index, options, baseDir } of entries) {
      const where = `plugins[${index}]`;
      if (options.scanner !== 'clamd') { lines.push({ status: 'ok', text: `${where}: command-line scanner (try it with \`moat clamav test\`)` }); continue; }
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

export const CHECKS: DoctorCheck[] = [dataDirCheck, stateStoreCheck, dnsCheck, smarthostCheck, clamdCheck];

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

const USAGE = 'usage: moat doctor [--config FILE]   checks the config, data_dir and the services it names (state store, DNS, smarthosts, clamd)';

export async function run(args: string[]): Promise<number> {
  const parsed = readCommand(args, { config: { type: 'string', short: 'c' } }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig({ file: values.config });
  } catch (err) {
    console.log(`FAIL config: ${(err as Error).message}`);
    return 1;
  }
  console.log(`ok   config: ${loaded.file ?? 'built-in defaults (no config file)'}`);
  let failed = false;
  for (const check of CHECKS) {
    let lines: CheckLine[];
    try { lines = await check.run(loaded); } catch (err) { lines = [{ status: 'fail', text: `check crashed: ${(err as Error).message}` }]; }
    for (const l of lines) {
      console.log(`${MARK[l.status]} ${check.name}: ${l.text}`);
      if (l.status === 'fail') failed = true;
    }
  }
  return failed ? 1 : 0;
}

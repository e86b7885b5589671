// `moat clamav test`: sends the EICAR test string through the configured virus scanner and says whether it was caught.
import { CONFIG_OPTIONS, readCommand, USAGE_ERROR } from './args.ts';
import { loadConfig, type LoadedConfig } from '../../core/config/load.ts';
import { pluginOptions, type EntryLike } from '../../core/plugin/loader.ts';
import { validate } from '../../core/config/schema.ts';
import { configSchema, type ClamavConfig } from '../../plugins/clamav/config.ts';
import { clamdTarget, createScanner, type Scanner } from '../../plugins/clamav/scanner.ts';
import { ClamdClient } from '../../plugins/clamav/clamd-client.ts';
import { EICAR } from '../../plugins/clamav/eicar.ts';

/**
 * What clamd gets to answer PING in before the scans. Each of the three scans would otherwise wait scan_timeout
 * (20 s) on a clamd that is stopped or hung, and the command would say nothing for a minute.
 */
const PING_LIMIT_MS = 2000;

const USAGE = `usage: moat clamav test [--config FILE] [--set KEY=VALUE]… [--socket PATH | --host HOST --port PORT | --command TEMPLATE]

Sends the EICAR test string through the scanner of the clamav plugin in the config
(or the one given by the flags): once as a file and once as a mail attachment, then harmless text.
clamd is first asked for PING, for at most ${PING_LIMIT_MS / 1000} s: one that does not answer is said at once.
Exit code: 0 caught (and the text passed), 1 not caught or the text flagged, 2 the scanner gave no answer,
64 usage or config error.`;

export interface ConfiguredScanner {
  /** Position of the entry in `plugins`, for messages. */
  index: number;
  options: ClamavConfig;
  baseDir: string;
}

/** Every clamav entry of the gateway config, its options validated with defaults applied. */
export function configuredScanners({ config, baseDir }: LoadedConfig): ConfiguredScanner[] {
  return config.plugins.flatMap((entry, index) => entry.name !== 'clamav' ? [] : [{
    index, baseDir, options: validate(configSchema, pluginOptions(entry as EntryLike)).value,
  }]);
}

/** Why clamd cannot be tested now (it does not answer PING within PING_LIMIT_MS), or undefined when it answers. */
async function clamdSilence(options: ClamavConfig, baseDir: string): Promise<string | undefined> {
  const limit = Math.min(PING_LIMIT_MS, options.connect_timeout + options.scan_timeout);
  const client = new ClamdClient({ target: clamdTarget(options, baseDir), connectTimeout: Math.min(limit, options.connect_timeout), scanTimeout: limit });
  try {
    if (await client.ping()) return undefined;
    return `clamd at ${client.address} gave an unexpected answer to PING`;
  } catch (err) {
    return `${(err as Error).message} (asked for PING, for at most ${limit} ms): is clamd running, and not stopped or overloaded?`;
  }
}

/** The options from the flags, over the first clamav entry of the config (or defaults when there is none). */
async function chosenOptions(values: Record<string, string | undefined> & { set?: string[] }): Promise<{ options: ClamavConfig; baseDir: string }> {
  const direct: Record<string, unknown> = {};
  if (values.socket) direct.socket = values.socket;
  if (values.host || values.port) { direct.host = values.host ?? '127.0.0.1'; direct.port = values.port; }
  if (values.command) { direct.scanner = 'command'; direct.command = { template: values.command }; }
  if (Object.keys(direct).length) {
    const { value, issues } = validate(configSchema, direct);
    if (issues.length) throw new Error(issues.map((i) => `--${i.path}: ${i.message}`).join('; '));
    return { options: value, baseDir: process.cwd() };
  }
  const found = configuredScanners(await loadConfig({ file: values.config, overrides: values.set ?? [] }));
  if (!found.length) throw new Error('no clamav plugin in the config; add `- name: clamav` with `socket:` or `host:`/`port:`, or pass --socket/--host/--command');
  return found[0];
}

async function attempt(scanner: Scanner, label: string, content: Buffer): Promise<'caught' | 'missed' | 'failed'> {
  const t0 = performance.now();
  try {
    const r = await scanner.scanBuffer(content);
    const ms = Math.round(performance.now() - t0);
    if (r.infected) { console.log(`${label}: caught as ${r.viruses.join(', ')} (${ms} ms)`); return 'caught'; }
    console.log(`${label}: NOT caught: the scanner says it is clean (${ms} ms)`);
    return 'missed';
  } catch (err) {
    console.log(`${label}: no answer: ${(err as Error).message}`);
    return 'failed';
  }
}

/**
 * Scans harmless text: a scanner that calls everything infected (a command whose exit code means an error, not a
 * virus) would otherwise pass the EICAR checks and then refuse all mail.
 */
async function cleanAttempt(scanner: Scanner): Promise<'clean' | 'flagged' | 'failed'> {
  const label = 'harmless text';
  try {
    const r = await scanner.scanBuffer(Buffer.from('Nothing to see here: an ordinary line of text.\r\n'));
    if (!r.infected) { console.log(`${label}: clean`); return 'clean'; }
    console.log(`${label}: WRONGLY reported as ${r.viruses.join(', ')}: every message would be treated as infected`);
    return 'flagged';
  } catch (err) {
    console.log(`${label}: no answer: ${(err as Error).message}`);
    return 'failed';
  }
}

function eicarMail(): Buffer {
  const b64 = Buffer.from(EICAR).toString('base64');
  return Buffer.from('From: moat@localhost\r\nTo: moat@localhost\r\nSubject: moat clamav test\r\nMIME-Version: 1.0\r\n'
    + 'Content-Type: multipart/mixed; boundary="moat"\r\n\r\n--moat\r\nContent-Type: text/plain\r\n\r\nEICAR test\r\n'
    + '--moat\r\nContent-Type: application/octet-stream; name="eicar.com"\r\nContent-Transfer-Encoding: base64\r\n'
    + `Content-Disposition: attachment; filename="eicar.com"\r\n\r\n${b64}\r\n--moat--\r\n`);
}

export async function run(args: string[]): Promise<number> {
  const parsed = readCommand(args, {
    ...CONFIG_OPTIONS, socket: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' },
    command: { type: 'string' },
  }, USAGE);
  if (typeof parsed === 'number') return parsed;
  if (parsed.positionals[0] !== 'test') { console.error(USAGE); return USAGE_ERROR; }
  let scanner: Scanner;
  let chosen: { options: ClamavConfig; baseDir: string };
  try {
    chosen = await chosenOptions(parsed.values as Parameters<typeof chosenOptions>[0]);
    scanner = createScanner(chosen.options, chosen.baseDir);
  } catch (err) {
    console.error(`moat clamav: ${(err as Error).message}`);
    return USAGE_ERROR;
  }
  console.log(`scanner: ${scanner.description}`);
  const silence = chosen.options.scanner === 'clamd' ? await clamdSilence(chosen.options, chosen.baseDir) : undefined;
  if (silence) { console.log(`no answer: ${silence}`); return 2; }
  const results = [await attempt(scanner, 'EICAR test file', Buffer.from(EICAR)), await attempt(scanner, 'EICAR as a mail attachment', eicarMail())];
  const harmless = await cleanAttempt(scanner);
  if (results.includes('failed') || harmless === 'failed') return 2;
  if (results.includes('missed')) { console.log('The scanner did not catch the EICAR test string: check its signature database.'); return 1; }
  if (harmless === 'flagged') { console.log('The scanner reports harmless text as infected: check its exit codes and options.'); return 1; }
  console.log('The scanner works.');
  return 0;
}
